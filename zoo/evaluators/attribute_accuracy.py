"""Accuracy of a multi-label attribute classifier over one pass of a split: per attribute
(beside the share of positives, so a reader sees what always answering 'no' would score)
and their mean. Built from an entry of `config.evals` (`type='attribute_accuracy'`,
`split`); the task's `predict_fn` gives {'logits': [N, A]}. Writes
`attribute_accuracy.md` (a row per attribute)."""
import os

import jax
import jax.numpy as jnp
import numpy as np

from zoo.data import pipeline
from zoo.evaluators import check_split, sum_over_split
from zoo.models import conv


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.to_device = eval_config, config, to_device
    self.name = name
    self.process_index, self.process_count = process_index, process_count
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)
    self.attributes = pipeline.data_module(config.data).ATTRIBUTES

    def sums(state, batch):
      logits, mask = predict_fn(state, batch)["logits"], batch["mask"][:, None]
      truth = batch["attributes"] > 0
      return {"correct": jnp.sum(((logits > 0) == truth) * mask, 0),
              "positive": jnp.sum(truth * mask, 0), "count": jnp.sum(mask)}

    self._sums = jax.jit(sums, compiler_options=conv.compiler_options(
        config.get("cpu_convolutions")))

  def check(self):
    """Before training: the split's files are readable and it holds records."""
    check_split(f"evals.{self.name}", self.config.data, self.eval_config.split, self.source)

  def run(self, state, workdir=None) -> dict:
    total = sum_over_split(self, state, self._sums)
    count = float(total["count"])
    accuracy = np.asarray(total["correct"]) / count
    positive = np.asarray(total["positive"]) / count
    metrics = {"mean_accuracy": float(accuracy.mean()), "num_examples": int(count)}
    metrics.update({f"accuracy/{a}": float(v) for a, v in zip(self.attributes, accuracy)})
    if workdir and self.process_index == 0:
      rows = [f"| {a} | {acc:.3f} | {pos:.3f} |"
              for a, acc, pos in zip(self.attributes, accuracy, positive)]
      with open(os.path.join(workdir, "attribute_accuracy.md"), "w") as f:
        f.write(f"Split '{self.eval_config.split}', {int(count)} faces.\n\n"
                "| attribute | accuracy | share positive |\n|---|---|---|\n"
                + "\n".join(rows) + "\n")
    return metrics
