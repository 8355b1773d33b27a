"""Top-1 / top-5 accuracy and mean cross-entropy over one pass of a split.

Built from an entry of `config.evals` (`type='classification'`, `split`, optional
`ensemble`: workdirs or checkpoints of runs of the same network whose predicted
distributions are averaged with this run's) and run on a task's `predict_fn`; counts are
summed on the device, so nothing per-example crosses to the host.
"""
import jax
import jax.numpy as jnp
import optax

from zoo.data import pipeline
from zoo.evaluators import check_split, sum_over_split
from zoo.evaluators.ensemble import Ensemble
from zoo.models import conv
from zoo.tasks.classification import topk_correct


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.name = eval_config, config, name
    self.to_device = to_device
    self.process_index, self.process_count = process_index, process_count
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)
    self.ensemble = Ensemble(eval_config.get("ensemble", ()), predict_fn)

    def sums(states, batch):
      logits = self.ensemble.logits(states, batch)
      labels, mask = batch["label"], batch["mask"]
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
      return {"top1": jnp.sum(topk_correct(logits, labels, 1) * mask),
              "top5": jnp.sum(topk_correct(logits, labels, 5) * mask),
              "loss": jnp.sum(loss * mask), "count": jnp.sum(mask)}

    self._sums = jax.jit(sums, compiler_options=conv.compiler_options(
        config.get("cpu_convolutions")))

  def check(self):
    """Before training: the split's files are readable and it holds records."""
    check_split(f"evals.{self.name}", self.config.data, self.eval_config.split, self.source)

  def run(self, state, workdir=None) -> dict:
    del workdir  # this evaluator writes no tables or pictures
    states = self.ensemble.states(state)
    total = sum_over_split(self, states, self._sums)
    count = float(total["count"])
    return {"top1_accuracy": float(total["top1"]) / count,
            "top5_accuracy": float(total["top5"]) / count,
            "loss": float(total["loss"]) / count, "num_examples": int(count),
            "bad_records": self.source.num_bad}
