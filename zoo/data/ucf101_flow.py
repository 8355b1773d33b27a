"""Prepared UCF101 as a flow classifier's data: one time step's stack of L optical-flow
fields (uint8 [S, S, 2L]) and the clip's class, for `ucf101_flow_cnn` (Video2Vec's temporal
CNN; the paper pretrains it on UCF Sports, not available here).

Training takes a random step of a random clip (with the frame loader's crop and flip);
evaluation the middle step, centre crop. Everything else is `zoo.data.ucf101`'s.
"""
import numpy as np

from zoo.data import ucf101

DESCRIPTION = "UCF101 optical-flow stacks of prepared clips (one time step per example)"
STAND_IN = False
NUM_CLASSES = 101  # UCF101's, for --describe without data; training reads the manifest
num_classes = ucf101.num_classes
stand_in = ucf101.stand_in
source = ucf101.source
validate = ucf101.validate


def preprocess(data_config, train: bool):
  one_step = data_config.copy_and_resolve_references()
  with one_step.unlocked():
    one_step.max_steps = 1
  clip = ucf101.preprocess(one_step, train)

  def fn(record, rng):
    steps = clip(record, rng)
    return {"image": steps["flow"][0], "label": np.int32(steps["label"])}

  return fn
