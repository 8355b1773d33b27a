"""Embedded stand-in for the temporal CNN's pretraining data: stacks of optical flow of
drawn clips labelled by their motion.

NOT a real dataset. Video2Vec pretrains its temporal CNN on UCF Sports, which is not
available here; this is its stand-in for `ucf101_flow_cnn:synthetic`: clips drawn by the
UCF101 stand-in's renderer (`zoo.data.prepare.ucf101_stand_in.render_clip`) with objects
that no stand-in class uses (cross, bar, triangle) and one of its five motions as the
label. So the temporal CNN learns motion from other clips and never sees the labels or
clips of the video classes it later describes (zero-shot learning stays honest).

A record is drawn from `(seed, split, index)` alone: frames rendered at 25 fps and kept
at the prepared data's rate (`data.fps`), optical flow between the L+1 kept frames
computed by the prepare step's own function, uint8 [S, S, 2L] after a crop.
"""
import math

import numpy as np

from zoo.data import stand_in
from zoo.data.prepare import ucf101 as prepare
from zoo.data.prepare import ucf101_stand_in as videos

OBJECTS = ("cross", "bar", "triangle")  # none of the stand-in video classes' objects
CLASS_NAMES = videos.MOTIONS
NUM_CLASSES = len(CLASS_NAMES)
STAND_IN = True
DESCRIPTION = ("embedded stand-in: optical flow of drawn clips labelled by motion, for the "
               "temporal CNN (not a real dataset)")


def draw(data_config, split: str, index: int) -> dict:
  """{'flow': uint8 [H, W, 2L] of the whole frame, 'label': int}."""
  rng = np.random.default_rng([data_config.seed, 71, stand_in.SPLIT_IDS[split], index])
  label = index % NUM_CLASSES
  obj = OBJECTS[rng.integers(len(OBJECTS))]
  step = 25.0 / data_config.fps
  kept = [round(k * step) for k in range(data_config.flow_stack + 1)]
  height, width = data_config.frame_size
  frames = videos.render_clip(obj, CLASS_NAMES[label], rng, height=height, width=width,
                              num_frames=kept[-1] + 1 + int(rng.integers(0, math.ceil(step))))
  start = len(frames) - 1 - kept[-1]
  frames = frames[start:][kept]
  flows = [prepare.compute_flow(a, b, data_config.flow_method) for a, b in zip(frames, frames[1:])]
  return {"flow": np.concatenate(flows, axis=-1), "label": label}


class _Source:
  """Records drawn on first use and kept: drawing (rendering and optical flow) costs more
  than the CNN's step, and each epoch reads every record again. The stand-in is small
  (num_train + num_eval records of H x W x 2L bytes)."""

  def __init__(self, data_config, split):
    self.data_config, self.split = data_config, split
    self.n = data_config.num_train if split == "train" else data_config.num_eval
    self._drawn = {}

  def __len__(self):
    return self.n

  def __getitem__(self, index):
    index = int(index)
    if index not in self._drawn:  # a race only draws a record twice, identically
      self._drawn[index] = draw(self.data_config, self.split, index)
    return self._drawn[index]


def source(data_config, split: str):
  if split not in stand_in.SPLIT_IDS:
    raise ValueError(f"unknown split '{split}' of the motions stand-in; known: "
                     f"{sorted(stand_in.SPLIT_IDS)}")
  return _Source(data_config, split)


def preprocess(data_config, train: bool):
  size = data_config.image_size

  def fn(record, rng):
    flow = record["flow"]
    h, w = flow.shape[:2]
    if train:
      y, x = rng.integers(0, h - size + 1), rng.integers(0, w - size + 1)
    else:
      y, x = (h - size) // 2, (w - size) // 2
    return {"image": flow[y:y + size, x:x + size], "label": np.int32(record["label"])}

  return fn


def validate(data_config, record):
  del data_config, record
