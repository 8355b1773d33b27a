"""What the embedded stand-ins (`shapes`, `fundus`) share: records drawn from
`(seed, split, index)` alone, so a split needs no files and reads in any order."""
from typing import Callable, Optional

import numpy as np

SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


class DrawnSource:
  """grain random-access source of `num_examples` records `draw(seed, split, index, size)`."""

  def __init__(self, name: str, draw: Callable, data_config, split: str, size: int,
               label: Optional[Callable] = None):
    if split not in SPLIT_IDS:
      raise ValueError(f"unknown split '{split}' of the {name} stand-in; known: {sorted(SPLIT_IDS)}")
    num = {"train": data_config.num_train, "validation": data_config.num_eval,
           "test": data_config.num_eval}
    self.name, self.draw, self.label = name, draw, label
    self.seed, self.split, self.num_examples, self.size = (
        data_config.seed, split, num[split], size)

  def __len__(self):
    return self.num_examples

  def __getitem__(self, index):
    return self.draw(self.seed, self.split, int(index), self.size)

  def labels(self):
    """Every record's label from `label(seed, split, index)` (no drawing), or None."""
    if self.label is None:
      return None
    return np.asarray([self.label(self.seed, self.split, i) for i in range(len(self))])

  def __repr__(self):
    return f"{self.name}(seed={self.seed}, split={self.split}, n={self.num_examples})"
