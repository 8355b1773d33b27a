"""Kaggle EyePACS diabetic retinopathy photographs, tfds `diabetic_retinopathy_detection`.

Gulshan et al. (JAMA 2016) grade whole fundus photographs on the 5-point ICDR scale
(0 none, 1 mild, 2 moderate, 3 severe, 4 proliferative; referable = grade >= 2) with an
Inception-v3 whose input is the photograph "scaled so the diameter of the fundus fills
299 pixels". `preprocess` does that: it finds the fundus disc by thresholding against
the black surround, crops its bounding square (black where the disc runs past the
frame, as in photographs clipped at the top and bottom) and resizes it to
`data.image_size`.

The data cannot be downloaded here: put the Kaggle files in DATA_DIR/downloads/manual
(see tfds' instructions), run
`tfds build diabetic_retinopathy_detection/250K --data_dir=DATA_DIR --file_format=array_record`
and pass `--config.data.dir=DATA_DIR`. `data.tfds_config` picks the tfds variant:
'250K' (default: about 610x410 pixels at JPEG quality 72, so the disc's diameter,
about 410 pixels, is still above 299, with a quarter of the pixels to decode of '1M'),
'1M', 'original' (full size) or 'btgraham-300' (Graham's Kaggle-winning local contrast
normalisation, not Gulshan's input). Splits: 'train' (35,126 images),
'validation' (10,906, Kaggle's public leaderboard) and 'test' (42,670, private).

Data config fields: `dir`, `tfds_config`, `image_size`; train-time switches
`random_flip`, `random_rotation` (maximum degrees, 0 = off) and `random_brightness`
(maximum relative change, 0 = off).
"""
from typing import NamedTuple, Optional

import numpy as np
from PIL import Image

from zoo.data import image_transforms
from zoo.data import tfds_source
from zoo.data.bad_records import BadRecordError

TFDS_NAME = "diabetic_retinopathy_detection"
GRADE_NAMES = ("none", "mild", "moderate", "severe", "proliferative")  # ICDR
NUM_CLASSES = len(GRADE_NAMES)
STAND_IN = False
DESCRIPTION = "Kaggle EyePACS diabetic retinopathy (tfds diabetic_retinopathy_detection)"

_PROBE_SIZE = 512  # the disc is found on a copy subsampled to about this many pixels a side
_MIN_CONTRAST = 10  # grey levels a fundus pixel stands above the surround, at least
_CHORD_FRACTION = 0.05  # rows/columns with a shorter run of fundus pixels are surround


class Disc(NamedTuple):
  """The fundus disc of a photograph, in pixels (it may extend past the frame)."""
  centre_y: float
  centre_x: float
  radius: float


def _longest_run(counts: np.ndarray) -> Optional[tuple]:
  """[start, end) of the longest run of rows (or columns) holding enough fundus pixels.

  Rows are kept when their count is over `_CHORD_FRACTION` of the longest chord, so
  isolated noise pixels and small marks in the surround do not extend the disc.
  """
  if counts.max() < 2:
    return None
  keep = np.r_[0, (counts > _CHORD_FRACTION * counts.max()).astype(np.int8), 0]
  starts, ends = np.flatnonzero(np.diff(keep) == 1), np.flatnonzero(np.diff(keep) == -1)
  longest = np.argmax(ends - starts)
  return starts[longest], ends[longest]


def _centre(start: float, end: float, size: int, radius: float) -> float:
  """Centre of the disc along one axis; a side cut by the frame does not count."""
  cut_start, cut_end = start <= 0, end >= size
  if cut_start and not cut_end:
    return end - radius
  if cut_end and not cut_start:
    return start + radius
  return (start + end) / 2


def find_disc(image: np.ndarray) -> Optional[Disc]:
  """The fundus disc of an RGB photograph on a dark surround, or None if there is none.

  A pixel is fundus when its brightest channel stands out from the surround's level
  (the 2nd percentile) by 10% of the image's range (to the 99th percentile) and at
  least `_MIN_CONTRAST` levels; the disc spans the longest runs of rows and of columns
  that hold enough such pixels. Its diameter is the larger span, since photographs are
  often cut at the top and bottom.
  """
  h, w = image.shape[:2]
  stride = max(1, max(h, w) // _PROBE_SIZE)
  level = image[::stride, ::stride].max(axis=-1)
  cdf = np.cumsum(np.bincount(level.ravel(), minlength=256)) / level.size
  low, high = np.searchsorted(cdf, 0.02), np.searchsorted(cdf, 0.99)
  fundus = level > low + max(_MIN_CONTRAST, 0.1 * (high - low))
  rows, cols = _longest_run(fundus.sum(axis=1)), _longest_run(fundus.sum(axis=0))
  if rows is None or cols is None:
    return None
  top, bottom = rows[0] * stride, min(rows[1] * stride, h)
  left, right = cols[0] * stride, min(cols[1] * stride, w)
  radius = max(bottom - top, right - left) / 2
  return Disc(_centre(top, bottom, h, radius), _centre(left, right, w, radius), radius)


def crop_to_disc(image: np.ndarray, size: int) -> np.ndarray:
  """The disc's bounding square (black outside the frame) resized to size x size."""
  disc = find_disc(image)
  if disc is None:
    raise ValueError("no fundus disc found (validate() rejects such records)")
  box = [round(disc.centre_x - disc.radius), round(disc.centre_y - disc.radius)]
  side = max(1, round(2 * disc.radius))
  square = Image.fromarray(image).crop((box[0], box[1], box[0] + side, box[1] + side))
  return np.asarray(square.resize((size, size), Image.BILINEAR))


class _NamedRecords:
  """A tfds source whose records also carry their image name as `file_name`, so bad
  records are reported by name (e.g. '10_left')."""

  def __init__(self, records):
    self.records = records

  def __len__(self):
    return len(self.records)

  def __getitem__(self, index):
    record = self.records[index]
    return dict(record, file_name=record["name"])

  def __repr__(self):
    return f"_NamedRecords({self.records!r})"

  def locate(self, index):  # the shard file and index, as the split reports it
    return self.records.locate(index)

  def check(self):
    self.records.check()

  def labels(self):
    return self.records.labels()


def source(data_config, split: str):
  """A random-access source of {'image': uint8 HWC, 'label': grade, 'name', 'file_name'}."""
  name = f"{TFDS_NAME}/{data_config.tfds_config}"
  return _NamedRecords(tfds_source.open_split(name, data_config.dir, split))


def preprocess(data_config, train: bool):
  """Returns `fn(record, rng) -> {'image': uint8 [S,S,3], 'label': int32 grade}`: the disc
  crop, then the train-time switches (rotation, flip, brightness)."""
  size = data_config.image_size

  def fn(record, rng):
    image = crop_to_disc(image_transforms.to_rgb(np.asarray(record["image"])), size)
    if train and data_config.random_rotation:
      image = image_transforms.random_rotate(image, data_config.random_rotation, rng)
    if train and data_config.random_flip:
      image = image_transforms.random_flip(image, rng)
    if train and data_config.random_brightness:
      image = image_transforms.random_brightness(image, data_config.random_brightness, rng)
    return {"image": np.ascontiguousarray(image, dtype=np.uint8),
            "label": np.int32(record["label"])}

  return fn


def validate(data_config, record):
  """A usable image with a grade in 0-4 (tfds marks unlabelled ones -1) and a fundus."""
  del data_config
  image_transforms.validate_classification(record, NUM_CLASSES)
  if find_disc(image_transforms.to_rgb(np.asarray(record["image"]))) is None:
    raise BadRecordError("no fundus disc found: the image is blank or uniform")
