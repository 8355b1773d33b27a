"""Action recognition of Video2Vec: top-1/top-5 accuracy on a split, both by the softmax
head and by the nearest class-name vector in the embedding space.

Built from an entry of `config.evals` (`type='video_recognition'`, `split`); runs on the
video-embedding task's `predict_fn` ('logits', 'similarities'). Counts are summed on the
device.
"""
import jax
import jax.numpy as jnp

from zoo.data import pipeline
from zoo.evaluators import check_split, sum_over_split
from zoo.tasks.classification import topk_correct


def masked_sums(scores, labels, mask, prefix: str):
  return {f"{prefix}top1": jnp.sum(topk_correct(scores, labels, 1) * mask),
          f"{prefix}top5": jnp.sum(topk_correct(scores, labels, 5) * mask)}


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.config, self.to_device, self.name = config, to_device, name
    self.split = eval_config.split
    self.process_index, self.process_count = process_index, process_count
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)

    def sums(state, batch):
      out = predict_fn(state, batch)
      labels, mask = batch["label"], batch["mask"]
      return {**masked_sums(out["logits"], labels, mask, "softmax_"),
              **masked_sums(out["similarities"], labels, mask, "embedding_"),
              "count": jnp.sum(mask)}

    self._sums = jax.jit(sums)

  def check(self):
    """Before training: the split's files are readable and it holds records."""
    check_split(f"evals.{self.name}", self.config.data, self.split, self.source)

  def run(self, state, workdir=None) -> dict:
    del workdir
    total = sum_over_split(self, state, self._sums)
    count = float(total.pop("count"))
    results = {f"{k}_accuracy": float(v) / count for k, v in total.items()}
    return {**results, "num_examples": int(count), "bad_records": self.source.num_bad}
