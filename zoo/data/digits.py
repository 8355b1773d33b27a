"""scikit-learn's 8x8 handwritten digits (the UCI optical-recognition test set, 1,797 images
of 0-9 from 43 writers), shipped inside scikit-learn: no download.

A real dataset, small enough for GANs on a CPU. Pixels are counts 0-16 of a 4x4 block of
the original 32x32 bitmaps; they are scaled to uint8 (x 16, 16 -> 255). The split is fixed
(a seeded permutation, independent of `data.seed`): 'train' the first 1,297 images,
'test' the other 500 (the GAN evaluators' held-out set, two halves of 250 for the
real-vs-real floor). Records: {'image': uint8 [8, 8, 1], 'label': int32 0-9}.
"""
import functools

import numpy as np

from zoo.data.bad_records import BadRecordError

NUM_CLASSES = 10
STAND_IN = False
DESCRIPTION = "scikit-learn's 8x8 handwritten digits (UCI, 1,797 images; shipped, no download)"
NUM_TEST = 500
_SPLIT_SEED = 0


@functools.lru_cache(maxsize=1)
def _splits():
  from sklearn.datasets import load_digits  # pylint: disable=import-outside-toplevel
  digits = load_digits()
  images = np.minimum(digits.images * 16, 255).astype(np.uint8)[..., None]
  order = np.random.default_rng(_SPLIT_SEED).permutation(len(images))
  labels = digits.target.astype(np.int32)
  test, train = order[:NUM_TEST], order[NUM_TEST:]
  return {"train": (images[train], labels[train]), "test": (images[test], labels[test])}


class DigitsSource:
  """grain random-access source of one split."""

  def __init__(self, split: str):
    splits = _splits()
    if split not in splits:
      raise ValueError(f"unknown split '{split}' of the digits; known: {sorted(splits)}")
    self.split = split
    self.images, self.labels = splits[split]

  def __len__(self):
    return len(self.labels)

  def __getitem__(self, index):
    return {"image": self.images[index], "label": self.labels[index]}

  def __repr__(self):
    return f"DigitsSource(split={self.split}, n={len(self)})"


def source(data_config, split: str):
  del data_config
  return DigitsSource(split)


def example_shape(data_config):
  del data_config
  return (8, 8, 1)


def preprocess(data_config, train: bool):
  del data_config, train  # no augmentation: a GAN learns the images as they are
  return lambda record, rng: {"image": record["image"], "label": np.int32(record["label"])}


def validate(data_config, record):
  del data_config
  if record["image"].shape != (8, 8, 1) or not 0 <= record["label"] < NUM_CLASSES:
    raise BadRecordError("not an 8x8 digit with a label 0-9")
