"""Zero-shot action recognition (Video2Vec, Li, Hu and Li 2016): test clips of classes
never seen in training, each labelled by the nearest unseen class-name vector.

Built from an entry of `config.evals` (`type='zero_shot'`, `split='test:unseen'`,
`split_workdir_suffix`). The run trains on the seen classes of the class split
`config.data.zsl_seed`; with `config.zsl_splits` = N > 1 the other N-1 splits are trained
by the experiment's stages in the workdirs `WORKDIR + split_workdir_suffix.format(seed=S)`,
and this evaluator reports the mean and standard deviation over all N, with chance
(1 / number of unseen classes) beside them.

A run is zero-shot only if no trained component saw an unseen class's labels: `check()`
(before training) refuses a run whose spatial CNN, temporal CNN or embedding network was
trained on one (`video_features.trained_classes`, also in results.json under
`data.trained_classes`), naming the component and the classes; `run` refuses to average
in a split run whose results.json lacks that record or shows such a class.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from zoo.data import pipeline, ucf101, video_features
from zoo.evaluators import sum_over_split


def split_workdir(workdir: str, eval_config, seed: int) -> str:
  return os.path.abspath(workdir) + eval_config.split_workdir_suffix.format(seed=seed)


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.to_device = eval_config, config, to_device
    self.name = name  # its key in config.evals: the split runs' results are under it
    self.process_index, self.process_count = process_index, process_count
    if not config.data.zsl_unseen:
      raise ValueError("the zero_shot evaluator needs --config.data.zsl_unseen > 0")
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)
    num_classes = pipeline.num_classes(pipeline.data_module(config.data), config.data)
    self.unseen = video_features.unseen_classes(config.data, num_classes)
    unseen_mask = jnp.zeros(num_classes, bool).at[jnp.asarray(self.unseen)].set(True)

    def sums(state, batch):
      sims = jnp.where(unseen_mask, predict_fn(state, batch)["similarities"], -2.0)
      correct = (jnp.argmax(sims, axis=-1) == batch["label"]) * batch["mask"]
      return {"correct": jnp.sum(correct), "count": jnp.sum(batch["mask"])}

    self._sums = jax.jit(sums)
    self.class_names = ucf101.read_manifest(config.data.dir)["classes"]

  def _refuse_leaks(self, trained: dict, seed: int, where: str):
    unseen = video_features.class_split(len(self.class_names), self.config.data.zsl_unseen,
                                        seed)[1]
    leaks = video_features.leaked_classes(trained, [self.class_names[c] for c in unseen])
    if leaks:
      component, names = next(iter(leaks.items()))
      raise ValueError(
          f"not zero-shot: in {where}, the {component} ({trained[component]['run']}) was "
          f"trained on labels of {len(names)} of zero-shot split {seed}'s unseen classes: "
          f"{', '.join(names)}" + "".join(f"; the {c} on {len(n)}" for c, n in
                                           list(leaks.items())[1:])
          + ". Train it on the split's seen classes (the default), or name a network "
          "trained on other data (--config.data.flow_cnn=RUN, --config.data.spatial_cnn=RUN)")

  def check(self):
    """Refuses a run whose trained components saw an unseen class (see the docstring)."""
    self._refuse_leaks(video_features.trained_classes(self.config),
                       self.config.data.zsl_seed, "this run")

  def other_splits(self, workdir) -> dict:
    """{seed: top-1} of the other split runs, which the lead run (zsl_splits > 1) averages
    in (a split run reports its own), each checked for unseen classes in its record."""
    if self.config.zsl_splits <= 1 or not workdir:
      return {}
    accuracies = {}
    for seed in range(self.config.zsl_splits):
      if seed == self.config.data.zsl_seed:
        continue
      path = os.path.join(split_workdir(workdir, self.eval_config, seed), "results.json")
      with open(path) as f:  # written by the experiment's stage for this split
        split_results = json.load(f)
      trained = split_results.get("data", {}).get("trained_classes")
      if trained is None:
        raise ValueError(f"{path} does not record which classes trained its components (a "
                         "run from before the record): delete its results.json to train it again")
      self._refuse_leaks(trained, seed, f"split run {os.path.dirname(path)}")
      accuracies[seed] = split_results[f"{self.name}/top1_accuracy"]
    return accuracies

  def run(self, state, workdir=None) -> dict:
    total = sum_over_split(self, state, self._sums)
    accuracy = float(total["correct"]) / float(total["count"])
    results = {"top1_accuracy": accuracy, "chance": 1.0 / len(self.unseen),
               "num_unseen_classes": len(self.unseen), "num_examples": int(total["count"]),
               "split_seed": self.config.data.zsl_seed, "bad_records": self.source.num_bad}
    accuracies = {self.config.data.zsl_seed: accuracy, **self.other_splits(workdir)}
    values = np.asarray([accuracies[s] for s in sorted(accuracies)])
    results.update({"mean_top1_accuracy": float(values.mean()),
                    "std_top1_accuracy": float(values.std()),
                    "num_splits": len(values),
                    "split_accuracies": [float(v) for v in values]})
    return results
