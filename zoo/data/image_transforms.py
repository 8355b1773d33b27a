"""Numpy image transforms for classification pipelines (run inside grain workers).

Images stay uint8 HWC until they reach the device: the train step normalises them,
which moves 4x fewer bytes than float32 would.
"""
import numpy as np
from PIL import Image

from zoo.data.bad_records import BadRecordError


def resize_shorter(image: np.ndarray, size: int) -> np.ndarray:
  """Resizes so the shorter side is `size`, keeping the aspect ratio (bilinear)."""
  h, w = image.shape[:2]
  if min(h, w) == size:
    return image
  scale = size / min(h, w)
  new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
  return np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
  h, w = image.shape[:2]
  top, left = (h - size) // 2, (w - size) // 2
  return image[top:top + size, left:left + size]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
  h, w = image.shape[:2]
  top, left = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
  return image[top:top + size, left:left + size]


def random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  return image[:, ::-1] if rng.random() < 0.5 else image


def to_rgb(image: np.ndarray) -> np.ndarray:
  """Greyscale (HW or HW1) or RGBA to RGB, so every batch has three channels."""
  if image.ndim == 2:
    image = image[..., None]
  if image.shape[-1] == 1:
    return np.repeat(image, 3, axis=-1)
  return image[..., :3]


def validate_classification(record, num_classes: int, min_size: int = 8):
  """Raises BadRecordError unless the record is a usable image with a label in range."""
  image, label = np.asarray(record["image"]), np.asarray(record["label"])
  if image.dtype != np.uint8 or image.ndim not in (2, 3):
    raise BadRecordError(f"image of dtype {image.dtype} and shape {image.shape}")
  if image.ndim == 3 and image.shape[-1] not in (1, 3, 4):
    raise BadRecordError(f"image with {image.shape[-1]} channels")
  if min(image.shape[:2]) < min_size:
    raise BadRecordError(f"image of {image.shape[0]}x{image.shape[1]} pixels")
  if label.shape != () or not np.issubdtype(label.dtype, np.integer) \
      or not 0 <= int(label) < num_classes:
    raise BadRecordError(f"label {label.tolist()} outside [0, {num_classes})")


def classification_preprocess(data_config, train: bool):
  """Returns `fn(record, rng) -> {'image': uint8 [S,S,3], 'label': int32}`.

  Train: resize the shorter side to `resize_size`, random crop `image_size`, random
  flip (each a switch). Eval: resize, centre crop.
  """
  size, resize = data_config.image_size, data_config.resize_size

  def preprocess(record, rng):
    image = resize_shorter(to_rgb(np.asarray(record["image"])), resize)
    if train and data_config.random_crop:
      image = random_crop(image, size, rng)
    else:
      image = center_crop(image, size)
    if train and data_config.random_flip:
      image = random_flip(image, rng)
    return {"image": np.ascontiguousarray(image, dtype=np.uint8),
            "label": np.int32(record["label"])}

  return preprocess
