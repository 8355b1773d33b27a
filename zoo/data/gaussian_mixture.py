"""2-D mixtures of Gaussians, where a generator's dropped modes can be counted.

Synthetic by design (the benchmark itself, not a stand-in for a real dataset):
- 'ring': 8 modes evenly spaced on a circle of radius 2, standard deviation 0.02 (Metz et
  al., "Unrolled Generative Adversarial Networks", ICLR 2017);
- 'grid': 25 modes on the grid {-4, -2, 0, 2, 4}^2, standard deviation 0.05 (Srivastava et
  al., "VEEGAN", NeurIPS 2017).
Each point is drawn from `(data.seed, split, index)` alone: a uniformly chosen mode plus
isotropic Gaussian noise. Records: {'point': float32 [2], 'label': int32 (the mode)}.
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


def draw(centres, std, seed: int, split: str, index: int) -> dict:
  rng = np.random.default_rng([seed, stand_in.SPLIT_IDS[split], index])
  mode = int(rng.integers(len(centres)))
  point = centres[mode] + std * rng.standard_normal(2)
  return {"point": point.astype(np.float32), "label": np.int32(mode)}


class MixtureSource:
  """grain random-access source of `num_train` / `num_eval` points of one split."""

  def __init__(self, data_config, split: str):
    if split not in stand_in.SPLIT_IDS:
      raise ValueError(f"unknown split '{split}' of the mixture; known: "
                       f"{sorted(stand_in.SPLIT_IDS)}")
    self.centres, self.std = modes(data_config)
    self.seed, self.split = data_config.seed, split
    self.num = data_config.num_train if split == "train" else data_config.num_eval

  def __len__(self):
    return self.num

  def __getitem__(self, index):
    return draw(self.centres, self.std, self.seed, self.split, int(index))

  def __repr__(self):
    return f"MixtureSource(seed={self.seed}, split={self.split}, n={self.num})"


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
