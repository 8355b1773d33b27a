"""Prepared UCF101 as a flow classifier's data: one time step's stack of L optical-flow
fields (uint8 [S, S, 2L]) and the clip's class, for `ucf101_flow_cnn` (Video2Vec's temporal
CNN; the paper pretrains it on UCF Sports, not available here).

Training takes a random step of a random clip (with the frame loader's crop and flip);
evaluation the middle step, centre crop. `data.zsl_unseen` > 0 keeps only the seen classes
of Video2Vec's zero-shot class split `data.zsl_seed` (`video_features.class_split`), in
both splits. Everything else is `zoo.data.ucf101`'s.
"""
import numpy as np

from zoo.data import ucf101, video_features

DESCRIPTION = "UCF101 optical-flow stacks of prepared clips (one time step per example)"
STAND_IN = False
NUM_CLASSES = 101  # UCF101's, for --describe without data; training reads the manifest
num_classes = ucf101.num_classes
stand_in = ucf101.stand_in
validate = ucf101.validate


def source(data_config, split: str):
  if not data_config.get("zsl_unseen", 0):
    return ucf101.source(data_config, split)
  if data_config.get("classes", ()):
    raise ValueError("--config.data.classes and --config.data.zsl_unseen both choose the "
                     "classes: give one")
  seen = video_features.seen_classes(data_config, ucf101.num_classes(data_config))
  kept = data_config.copy_and_resolve_references()
  with kept.unlocked():
    kept.classes = tuple(seen)
  return ucf101.source(kept, split)


def preprocess(data_config, train: bool):
  one_step = data_config.copy_and_resolve_references()
  with one_step.unlocked():
    one_step.max_steps = 1
  clip = ucf101.preprocess(one_step, train)

  def fn(record, rng):
    steps = clip(record, rng)
    return {"image": steps["flow"][0], "label": np.int32(steps["label"])}

  return fn
