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


def random_resized_crop(image: np.ndarray, size: int, rng: np.random.Generator,
                        area=(0.08, 1.0), aspect=(3 / 4, 4 / 3)) -> np.ndarray:
  """Inception-style crop (Szegedy et al. 2015): a random window covering `area` of the
  image with a log-uniform aspect ratio in `aspect`, resized to size x size. After 10
  windows that do not fit, the central square is used."""
  h, w = image.shape[:2]
  for _ in range(10):
    target = rng.uniform(*area) * h * w
    ratio = np.exp(rng.uniform(np.log(aspect[0]), np.log(aspect[1])))
    cw, ch = round(np.sqrt(target * ratio)), round(np.sqrt(target / ratio))
    if 0 < cw <= w and 0 < ch <= h:
      top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
      break
  else:
    ch = cw = min(h, w)
    top, left = (h - ch) // 2, (w - cw) // 2
  window = image[top:top + ch, left:left + cw]
  return np.asarray(Image.fromarray(window).resize((size, size), Image.BILINEAR))


def random_flip(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  return image[:, ::-1] if rng.random() < 0.5 else image


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
  """Brightness, contrast and saturation each scaled by a factor in [1-s, 1+s]."""
  x = image.astype(np.float32)
  brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
  x *= brightness
  x = (x - x.mean()) * contrast + x.mean()
  grey = x @ np.asarray([0.299, 0.587, 0.114], np.float32)
  x = (x - grey[..., None]) * saturation + grey[..., None]
  return np.clip(x, 0, 255).astype(np.uint8)


def ten_crops(image: np.ndarray, size: int) -> np.ndarray:
  """The four corner crops, the centre crop and their mirror images: [10, size, size, C]
  (Krizhevsky et al. 2012's multi-crop testing)."""
  h, w = image.shape[:2]
  crops = [image[:size, :size], image[:size, w - size:], image[h - size:, :size],
           image[h - size:, w - size:], center_crop(image, size)]
  return np.stack(crops + [c[:, ::-1] for c in crops])


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


TRAIN_CROPS = ("random", "resized", "center")


def resize_size(data_config) -> int:
  """The shorter side an image is resized to before an `image_size` crop: `resize_ratio`
  times the crop, as papers state it (256 for 224 crops), so it follows the crop size.
  A ratio under 1 (a crop larger than the image) is refused naming both keys."""
  size, ratio = data_config.image_size, data_config.resize_ratio
  if not ratio >= 1:
    raise ValueError(f"--config.data.resize_ratio={ratio} makes the resized image "
                     f"({round(size * ratio)} pixels) smaller than the crop "
                     f"--config.data.image_size={size}: the ratio must be at least 1")
  return round(size * ratio)
EVAL_CROPS = ("center", "ten")


def classification_preprocess(data_config, train: bool):
  """Returns `fn(record, rng) -> {'image': uint8 [S,S,3], 'label': int32}`.

  Train (`data.train_crop`): 'random' resizes the shorter side to `resize_size` (`image_size`
  x `resize_ratio`) and takes
  a random `image_size` crop (AlexNet, VGG); 'resized' takes an Inception-style
  random-resized crop of at least `min_crop_area` of the image; 'center' resizes and
  crops the centre. Then an optional flip (`random_flip`) and colour jitter
  (`color_jitter` strength, 0 = off). Eval: resize, centre crop; with
  `data.eval_crops='ten'` the image is [10, S, S, 3] (corners, centre and mirrors) and the
  task averages the ten predictions.
  """
  size, resize = data_config.image_size, resize_size(data_config)
  train_crop = data_config.train_crop
  eval_crops = data_config.eval_crops
  if train_crop not in TRAIN_CROPS:
    raise ValueError(f"--config.data.train_crop='{train_crop}': expected one of {TRAIN_CROPS}")
  if eval_crops not in EVAL_CROPS:
    raise ValueError(f"--config.data.eval_crops='{eval_crops}': expected one of {EVAL_CROPS}")

  def preprocess(record, rng):
    image = to_rgb(np.asarray(record["image"]))
    if train and train_crop == "resized":
      image = random_resized_crop(image, size, rng, area=(data_config.min_crop_area, 1.0))
    elif train and train_crop == "random":
      image = random_crop(resize_shorter(image, resize), size, rng)
    elif not train and eval_crops == "ten":
      image = ten_crops(resize_shorter(image, resize), size)
    else:
      image = center_crop(resize_shorter(image, resize), size)
    if train and data_config.random_flip:
      image = random_flip(image, rng)
    if train and data_config.color_jitter:
      image = color_jitter(image, data_config.color_jitter, rng)
    return {"image": np.ascontiguousarray(image, dtype=np.uint8),
            "label": np.int32(record["label"])}

  return preprocess


def random_rotate(image: np.ndarray, max_degrees: float, rng: np.random.Generator) -> np.ndarray:
  """Rotated about its centre by an angle uniform in [-max_degrees, max_degrees]; corners
  that come from outside the image are black."""
  angle = rng.uniform(-max_degrees, max_degrees)
  return np.asarray(Image.fromarray(image).rotate(angle, Image.BILINEAR))


def random_brightness(image: np.ndarray, max_delta: float, rng: np.random.Generator) -> np.ndarray:
  """Intensities scaled by a factor uniform in [1 - max_delta, 1 + max_delta] (black stays
  black, unlike an additive shift)."""
  factor = rng.uniform(1 - max_delta, 1 + max_delta)
  return np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
