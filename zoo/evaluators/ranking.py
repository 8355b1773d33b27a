"""Ranking accuracy on pairs of images (Gattupalli, Chandakkar and Li, ICPR 2016): the share
of pairs whose order the network gets right, sign(d) = y; d = 0 counts one half.

Built from an entry of `config.evals` (`type='ranking'`, `split`: a pairs split such as
'test_pairs' or 'standard_test_pairs', `pictures`: how many pairs to draw). The task's
`predict_fn` gives d for a pair (f(C1 - C2) for the relative network, the difference of
the two scores for the binary one). Writes `pairs_SPLIT.png` (pairs side by side with
their true and predicted order) and, once per run, `pairs/SPLIT.tsv` for every pair split
of the data (the pairs the run trained and was tested on: ids, mean ratings, y).
"""
import functools
import os

import jax
import numpy as np
from absl import logging
from matplotlib.figure import Figure

from zoo.data import pipeline
from zoo.evaluators import check_split, collect_over_split
from zoo.models import conv


def ranking_accuracy(d, y) -> float:
  """Share of pairs with sign(d) = y, ties counting one half."""
  d, y = np.asarray(d, np.float64), np.asarray(y)
  return float(np.mean(np.where(d == 0, 0.5, np.sign(d) == np.sign(y))))


@functools.lru_cache(maxsize=8)
def _per_pair(predict_fn, cpu_convolutions):
  """The jitted per-pair outputs; one per task, so evaluators of several splits share its
  compilations."""
  def per_pair(state, batch):
    out = predict_fn(state, batch)
    return {"d": out["d"], "label": batch["label"]}

  return jax.jit(per_pair, compiler_options=conv.compiler_options(cpu_convolutions))


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.name = eval_config, config, name
    self.to_device = to_device
    self.process_index, self.process_count = process_index, process_count
    if not eval_config.split.endswith("_pairs"):
      raise ValueError(f"ranking evaluation: split='{eval_config.split}' is not a pairs split")
    self.data_module = pipeline.data_module(config.data)
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)

    self._per_pair = _per_pair(predict_fn, config.get("cpu_convolutions"))

  def check(self):
    """Before training: the pairs split holds pairs (the rules can leave none)."""
    check_split(f"evals.{self.name}", self.config.data, self.eval_config.split, self.source)

  def run(self, state, workdir=None) -> dict:
    keep = self.eval_config.get("pictures", 0)
    out, first = collect_over_split(self, state, self._per_pair, first=keep)
    if not out or not len(out["d"]):
      raise ValueError(f"ranking evaluation: split '{self.eval_config.split}' of data "
                       f"'{self.config.data.name}' has no readable pairs")
    metrics = {"accuracy": ranking_accuracy(out["d"], out["label"]),
               "num_pairs": len(out["d"]), "bad_records": self.source.num_bad}
    if workdir and self.process_index == 0:
      self._write_pair_lists(workdir)
      if keep and first is not None:
        d = out["d"][np.searchsorted(out["index"], first["index"])]
        self._picture(os.path.join(workdir, f"pairs_{self.eval_config.split}.png"), first,
                      d, metrics)
    return metrics

  def _write_pair_lists(self, workdir):
    folder = os.path.join(workdir, "pairs")
    if os.path.isdir(folder) or not hasattr(self.data_module, "pair_lists"):
      return
    os.makedirs(folder)
    for split, rows in self.data_module.pair_lists(self.config.data).items():
      with open(os.path.join(folder, f"{split}.tsv"), "w") as f:
        f.write("id1\tid2\tmean1\tmean2\ty\n")
        f.writelines("\t".join(map(str, r)) + "\n" for r in rows)
    logging.info("pair lists written to %s", folder)

  def _picture(self, path, batch, d, metrics):
    n = min(len(d), len(batch["image1"]))
    fig = Figure(figsize=(6, 2.1 * n + 0.4), dpi=100)
    axes = fig.subplots(n, 2, squeeze=False)
    for k in range(n):
      y = float(batch["label"][k])
      right = np.sign(d[k]) == np.sign(y)
      for side, ax in enumerate(axes[k]):
        i = str(side + 1)
        ax.imshow(batch["image" + i][k])
        ax.set_xticks([])
        ax.set_yticks([])
        better = (y > 0) == (side == 0)
        image_id = int(batch["id" + i][k])
        category = (f" ({self.data_module.category_name(self.config.data, image_id)})"
                    if hasattr(self.data_module, "category_name") else "")
        ax.set_title(f"id {image_id}{category}, mean {float(batch['mean' + i][k]):.2f}"
                     + (" (better)" if better else ""), fontsize=8)
      axes[k][0].set_ylabel(f"predicted: {'left' if d[k] > 0 else 'right'} better\n"
                            f"d = {float(d[k]):+.2f}  {'correct' if right else 'WRONG'}",
                            fontsize=8, color="tab:green" if right else "tab:red")
    fig.suptitle(f"{self.eval_config.split}: ranking accuracy {metrics['accuracy']:.1%} of "
                 f"{metrics['num_pairs']} pairs", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))  # room for the title
    fig.savefig(path)
