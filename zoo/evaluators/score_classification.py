"""Binary classification (high vs low aesthetic quality) by thresholding a per-image score.

Built from an entry of `config.evals` (`type='score_classification'`, `split`: an images
split such as 'test_images' or 'standard_test_images', `threshold_split`: the split the
threshold is chosen on, never the reported one; '' keeps the score's own decision at 0,
the binary network's softmax). The relative network's score f(C) has no natural zero, so
its threshold is the one that classifies `threshold_split` best (Gattupalli et al.); the
binary network's score is its log-odds of 'high', and 0 is its softmax decision. Reports
`accuracy` (at the chosen threshold), `accuracy_at_zero`, `threshold`, `auc` (threshold
free) and the counts; labels are the data's (mean rating >= 5 for AVA).
"""
import functools

import jax
import numpy as np

from zoo.data import pipeline
from zoo.evaluators import check_split, collect_over_split
from zoo.evaluators.roc import auc
from zoo.models import conv


def best_threshold(scores, labels) -> float:
  """The threshold t of 'high iff score >= t' with the highest accuracy on (scores, labels):
  the midpoint between two neighbouring distinct scores (or past either end)."""
  scores, labels = np.asarray(scores, np.float64), np.asarray(labels, bool)
  order = np.argsort(scores, kind="stable")
  s, pos = scores[order], labels[order]
  ends = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
  # Cutting after group g: everything up to it is called low.
  low_right = np.cumsum(~pos)[ends]
  high_right = pos.sum() - np.cumsum(pos)[ends]
  correct = np.r_[pos.sum(), low_right + high_right]  # first: all called high
  best = int(np.argmax(correct))
  if best == 0:
    return float(s[0] - 1.0)
  if best == len(ends):
    return float(s[-1] + 1.0)
  return float((s[ends[best - 1]] + s[ends[best - 1] + 1]) / 2)


def accuracy(scores, labels, threshold: float) -> float:
  return float(np.mean((np.asarray(scores) >= threshold) == np.asarray(labels, bool)))


@functools.lru_cache(maxsize=8)
def _per_image(predict_fn, cpu_convolutions):
  """The jitted per-image outputs; one per task, shared by evaluators of several splits."""
  def per_image(state, batch):
    return {"score": predict_fn(state, batch)["score"], "label": batch["label"]}

  return jax.jit(per_image, compiler_options=conv.compiler_options(cpu_convolutions))


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.name = eval_config, config, name
    self.to_device = to_device
    self.process_index, self.process_count = process_index, process_count
    splits = [eval_config.split] + ([eval_config.threshold_split]
                                    if eval_config.threshold_split else [])
    for split in splits:
      if not split.endswith("_images"):
        raise ValueError(f"score classification: split '{split}' is not an images split")
    if eval_config.threshold_split == eval_config.split:
      raise ValueError(f"score classification: the threshold is chosen on the reported split "
                       f"'{eval_config.split}'; choose it on another (validation_images)")
    self.sources = {s: pipeline.open_source(config.data, s, train=False) for s in splits}

    self._per_image = _per_image(predict_fn, config.get("cpu_convolutions"))

  def check(self):
    """Before training: each split holds images."""
    for split, source in self.sources.items():
      check_split(f"evals.{self.name}", self.config.data, split, source)

  def _scores(self, state, split):
    out, _ = collect_over_split(self, state, self._per_image, self.sources[split])
    if not out or not len(out["score"]):
      raise ValueError(f"score classification: split '{split}' has no readable images")
    return out["score"], out["label"]

  def run(self, state, workdir=None) -> dict:
    del workdir
    c = self.eval_config
    scores, labels = self._scores(state, c.split)
    threshold = 0.0
    metrics = {}
    if c.threshold_split:
      val_scores, val_labels = self._scores(state, c.threshold_split)
      threshold = best_threshold(val_scores, val_labels)
      metrics["threshold_split_accuracy"] = accuracy(val_scores, val_labels, threshold)
    positives = int(np.sum(labels))
    metrics.update({
        "accuracy": accuracy(scores, labels, threshold),
        "accuracy_at_zero": accuracy(scores, labels, 0.0), "threshold": threshold,
        "auc": auc(scores, labels) if 0 < positives < len(labels) else float("nan"),
        "num_examples": len(labels), "num_positives": positives,
        "bad_records": self.sources[c.split].num_bad})
    return metrics
