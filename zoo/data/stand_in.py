"""What the embedded stand-ins (`shapes`, `fundus`) share: records drawn from
`(seed, split, index)` alone, so a split needs no files and reads in any order."""
from typing import Callable

SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


class DrawnSource:
  """grain random-access source of `num_examples` records `draw(seed, split, index, size)`."""

  def __init__(self, name: str, draw: Callable, data_config, split: str, size: int):
    if split not in SPLIT_IDS:
      raise ValueError(f"unknown split '{split}' of the {name} stand-in; known: {sorted(SPLIT_IDS)}")
    num = {"train": data_config.num_train, "validation": data_config.num_eval,
           "test": data_config.num_eval}
    self.name, self.draw = name, draw
    self.seed, self.split, self.num_examples, self.size = (
        data_config.seed, split, num[split], size)

  def __len__(self):
    return self.num_examples

  def __getitem__(self, index):
    return self.draw(self.seed, self.split, int(index), self.size)

  def __repr__(self):
    return f"{self.name}(seed={self.seed}, split={self.split}, n={self.num_examples})"
