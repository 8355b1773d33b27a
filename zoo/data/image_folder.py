"""Folders of image files, the layout of most ImageNet copies (and torchvision's
ImageFolder): `DIR/SPLIT/CLASS/*.jpg|jpeg|png`, read from `--config.data.dir`.

Labels index the sorted class folders of the *train* split, so every split agrees;
files are decoded with PIL in the grain workers (CMYK and greyscale JPEGs become RGB).
A split folder of classes the train split lacks is refused, naming the folder.
"""
import functools
import os

import numpy as np
from PIL import Image

from zoo.data import image_transforms

EXTENSIONS = (".jpg", ".jpeg", ".png")
STAND_IN = False
DESCRIPTION = "image files in class folders (DIR/SPLIT/CLASS/*.jpg)"


@functools.lru_cache(maxsize=8)
def classes(root: str, train_split: str) -> tuple[str, ...]:
  split_dir = os.path.join(root, train_split)
  if not os.path.isdir(split_dir):
    raise FileNotFoundError(f"--config.data.dir='{root}' has no folder '{train_split}' "
                            f"(expected DIR/SPLIT/CLASS/*.jpg)")
  names = tuple(sorted(e.name for e in os.scandir(split_dir) if e.is_dir()))
  if not names:
    raise FileNotFoundError(f"{split_dir} holds no class folders")
  return names


def class_names(data_config) -> tuple[str, ...]:
  return classes(data_config.dir, data_config.train_split)


def num_classes(data_config) -> int:
  return len(class_names(data_config))


class ImageFolderSource:
  """grain random-access source of {'image': uint8 HWC RGB, 'label': int, 'path': str}."""

  def __init__(self, root: str, split: str, class_names):
    split_dir = os.path.join(root, split)
    if not os.path.isdir(split_dir):
      raise FileNotFoundError(f"--config.data.dir='{root}' has no folder '{split}'")
    index = {name: i for i, name in enumerate(class_names)}
    self.entries = []
    for entry in sorted(os.scandir(split_dir), key=lambda e: e.name):
      if not entry.is_dir():
        continue
      if entry.name not in index:
        raise FileNotFoundError(f"class folder {entry.path} is not a class of the train split")
      self.entries += [(os.path.join(entry.path, f), index[entry.name])
                       for f in sorted(os.listdir(entry.path)) if f.lower().endswith(EXTENSIONS)]

  def __len__(self):
    return len(self.entries)

  def locate(self, i) -> str:
    """The file of record `i` (reported when it cannot be read)."""
    return self.entries[i][0]

  def labels(self):
    return np.asarray([label for _, label in self.entries], np.int64)

  def __getitem__(self, i):
    path, label = self.entries[i]
    with Image.open(path) as image:
      pixels = np.asarray(image.convert("RGB"))
    return {"image": pixels, "label": label, "path": path}


def source(data_config, split: str):
  return ImageFolderSource(data_config.dir, split,
                           classes(data_config.dir, data_config.train_split))


def preprocess(data_config, train: bool):
  return image_transforms.classification_preprocess(data_config, train)


def validate(data_config, record):
  image_transforms.validate_classification(record, num_classes(data_config))


def write_images(root: str, split: str, images_per_class: int, *, num_classes: int = 10,
                 height: int = 375, width: int = 500, seed: int = 0, quality: int = 90):
  """Writes the textured-shapes stand-in as JPEG files in this layout (tests and the
  input-pipeline benchmark): ImageNet's typical 500x375 images by default."""
  from zoo.data import shapes  # pylint: disable=g-import-not-at-top
  for label in range(num_classes):
    folder = os.path.join(root, split, f"class_{label:04d}")
    os.makedirs(folder, exist_ok=True)
    for k in range(images_per_class):
      index = k * shapes.NUM_CLASSES + label % shapes.NUM_CLASSES
      image = shapes.draw(seed, split, index, max(height, width))["image"][:height, :width]
      Image.fromarray(image).save(os.path.join(folder, f"{k:05d}.jpg"), quality=quality)
