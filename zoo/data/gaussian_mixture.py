"""2-D mixtures of Gaussians, where a generator's dropped modes can be counted.

Synthetic by design (the benchmark itself, not a stand-in for a real dataset):
- 'ring': 8 modes evenly spaced on a circle of radius 2, standard deviation 0.02 (Metz et
  al., "Unrolled Generative Adversarial Networks", ICLR 2017);
- 'grid': 25 modes on the grid {-4, -2, 0, 2, 4}^2, standard deviation 0.05 (Srivastava et
  al., "VEEGAN", NeurIPS 2017).
A split's points are drawn from `(data.seed, split)`: a uniformly chosen mode plus
isotropic Gaussian noise each. Records: {'point': float32 [2], 'label': int32 (the mode)}.
Data config fields: `mixture` (ring | grid), `seed`, `num_train`, `num_eval`.
"""
import numpy as np

from zoo.data import stand_in
from zoo.data.bad_records import BadRecordError

STAND_IN = False
DESCRIPTION = "synthetic 2-D mixture of Gaussians (the benchmark itself)"
MIXTURES = ("ring", "grid")


def modes(data_config):
  """(centres [M, 2], standard deviation) of the mixture."""
  if data_config.mixture == "ring":
    angles = 2 * np.pi * np.arange(8) / 8
    return np.stack([2 * np.cos(angles), 2 * np.sin(angles)], -1), 0.02
  if data_config.mixture == "grid":
    axis = np.arange(-4.0, 5.0, 2.0)
    return np.stack(np.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2), 0.05
  raise ValueError(f"--config.data.mixture='{data_config.mixture}': expected one of "
                   f"{', '.join(MIXTURES)}")


def num_classes(data_config) -> int:
  return len(modes(data_config)[0])


class MixtureSource:
  """grain random-access source of `num_train` / `num_eval` points of one split, all drawn
  at once from `(seed, split)` (vectorised: reading is indexing)."""

  def __init__(self, data_config, split: str):
    if split not in stand_in.SPLIT_IDS:
      raise ValueError(f"unknown split '{split}' of the mixture; known: "
                       f"{sorted(stand_in.SPLIT_IDS)}")
    centres, std = modes(data_config)
    self.seed, self.split = data_config.seed, split
    num = data_config.num_train if split == "train" else data_config.num_eval
    rng = np.random.default_rng([data_config.seed, stand_in.SPLIT_IDS[split]])
    self.labels = rng.integers(len(centres), size=num).astype(np.int32)
    self.points = (centres[self.labels] + std * rng.standard_normal((num, 2))).astype(np.float32)

  def __len__(self):
    return len(self.labels)

  def __getitem__(self, index):
    return {"point": self.points[index], "label": self.labels[index]}

  def __repr__(self):
    return f"MixtureSource(seed={self.seed}, split={self.split}, n={len(self)})"


def source(data_config, split: str):
  return MixtureSource(data_config, split)


def example_shape(data_config):
  del data_config
  return (2,)


def preprocess(data_config, train: bool):
  del data_config, train
  return lambda record, rng: record


def validate(data_config, record):
  del data_config
  if record["point"].shape != (2,) or not np.all(np.isfinite(record["point"])):
    raise BadRecordError("not a finite 2-D point")
