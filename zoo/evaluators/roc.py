"""ROC analysis of a grader used as a binary screen, with operating points (Gulshan et al.,
JAMA 2016: referable diabetic retinopathy, AUC 0.991 on EyePACS-1; a high-specificity point
of 90.3% sensitivity / 98.1% specificity and a high-sensitivity point of 97.5% / 93.4%,
both chosen on the development set).

Built from an entry of `config.evals` (`type='roc'`) with fields `split` (reported),
`operating_split` (where the thresholds are chosen), `positive_from` (the lowest positive
class: 2 for referable = moderate or worse), `high_sensitivity` (target sensitivity of one
operating point) and `high_specificity` (target specificity of the other).

The score of an example is P(class >= positive_from), the summed softmax probabilities of
the positive classes; it is kept as log-odds (logsumexp of the positive logits minus that
of the negative ones), which orders examples the same way without float32 probabilities
of confident predictions rounding to 1.0 and tying. Scores are computed on the devices
and gathered from every process; the curve, the AUC (the Mann-Whitney statistic, ties
counting one half), the operating points, the accuracy over all classes and the
quadratic weighted kappa (the Kaggle competition's metric) are computed on the host,
the curve, the AUC and the kappa by scikit-learn.
An optional `ensemble` (checkpoint paths) averages several networks' predictions, as
Gulshan et al. averaged 10. Writes `roc_SPLIT.png` (the curve with both points and the AUC) and `roc_SPLIT.json`
(the curve's corners, the thresholds, and both points on both splits) into the workdir.
Before training, `check()` reads both splits' labels (no images) and stops the run if
either lacks positive or negative examples, naming the override that picks another split.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from matplotlib.figure import Figure  # not pyplot: no global backend or state
from sklearn import metrics as sk_metrics

from zoo.data import pipeline
from zoo.evaluators import check_split, collect_over_split
from zoo.evaluators.ensemble import Ensemble
from zoo.models import conv


def auc(scores, positive) -> float:
  """Area under the ROC curve: the probability that a random positive scores above a
  random negative, ties counting one half (the Mann-Whitney U; scikit-learn's)."""
  return float(sk_metrics.roc_auc_score(np.asarray(positive, bool),
                                        np.asarray(scores, np.float64)))


def roc_curve(scores, positive):
  """(thresholds, sensitivity, specificity) of the rule 'positive iff score >= t' for t =
  +inf (nothing positive) and then every distinct score, from the highest down
  (scikit-learn's curve, every point kept)."""
  fpr, tpr, thresholds = sk_metrics.roc_curve(
      np.asarray(positive, bool), np.asarray(scores, np.float64), drop_intermediate=False)
  return thresholds, tpr, 1 - fpr


# Targets are met up to float round-off (39 / 40 against 0.975).
_ROUND_OFF = 1e-12


def threshold_for_sensitivity(curve, target: float) -> float:
  """The highest threshold whose sensitivity is at least `target`."""
  thresholds, sensitivity, _ = curve
  return float(thresholds[np.argmax(sensitivity >= target - _ROUND_OFF)])


def threshold_for_specificity(curve, target: float) -> float:
  """The lowest threshold whose specificity is at least `target`."""
  thresholds, _, specificity = curve
  return float(thresholds[np.flatnonzero(specificity >= target - _ROUND_OFF)[-1]])


def sensitivity_specificity(scores, positive, threshold: float):
  """Sensitivity and specificity of 'positive iff score >= threshold'."""
  called = np.asarray(scores) >= threshold
  positive = np.asarray(positive, bool)
  return float(called[positive].mean()), float((~called[~positive]).mean())


def quadratic_kappa(labels, predictions, num_classes: int) -> float:
  """Cohen's kappa with quadratic weights (i - j)^2 / (K - 1)^2: 1 is perfect agreement,
  0 what independent guesses with the same class frequencies would get (scikit-learn's)."""
  return float(sk_metrics.cohen_kappa_score(
      np.asarray(labels), np.asarray(predictions), labels=np.arange(num_classes),
      weights="quadratic"))


def positive_log_odds(logits, positive_from: int):
  """The score: log P(class >= positive_from) - log P(class < positive_from) (traceable)."""
  return (jax.nn.logsumexp(logits[:, positive_from:], axis=-1)
          - jax.nn.logsumexp(logits[:, :positive_from], axis=-1))


def _probability(log_odds: float) -> float:
  return float(1 / (1 + np.exp(-log_odds)))


def _corners(fpr, tpr):
  """The indices of the curve's points where it turns (straight runs add nothing)."""
  turns = np.logical_or(np.diff(fpr, 2), np.diff(tpr, 2))
  return np.flatnonzero(np.r_[True, turns, True])


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.name = eval_config, config, name
    self.to_device = to_device
    self.process_index, self.process_count = process_index, process_count
    self.num_classes = pipeline.data_module(config.data).NUM_CLASSES
    first = eval_config.positive_from
    if not 0 < first < self.num_classes:
      raise ValueError(f"{self._name()}: positive_from={first} must be in [1, "
                       f"{self.num_classes}) for data '{config.data.name}'")
    for name in ("high_sensitivity", "high_specificity"):
      if not 0 < eval_config[name] <= 1:
        raise ValueError(f"{self._name()}: {name}={eval_config[name]} is not in (0, 1]")
    self.sources = {split: pipeline.open_source(config.data, split, train=False)
                    for split in dict.fromkeys([eval_config.split, eval_config.operating_split])}

    self.ensemble = Ensemble(eval_config.get("ensemble", ()), predict_fn)

    def per_example(states, batch):
      logits = self.ensemble.logits(states, batch)
      return {"score": positive_log_odds(logits, first), "prediction": jnp.argmax(logits, axis=-1),
              "label": batch["label"]}

    self._per_example = jax.jit(per_example, compiler_options=conv.compiler_options(
        config.get("cpu_convolutions")))

  def _name(self):
    c = self.eval_config
    return (f"ROC evaluation '{self.name}' (type='roc', split='{c.split}', operating_split="
            f"'{c.operating_split}', positive_from={c.positive_from})")

  def _require_both_classes(self, split: str, positives: int, negatives: int):
    """A ROC curve needs positive and negative examples: else an error naming the
    overrides that pick another split (or another boundary between the classes)."""
    if positives and negatives:
      return
    c = self.eval_config
    keys = [k for k in ("operating_split", "split") if c[k] == split]
    raise ValueError(
        f"{self._name()}: split '{split}' of data '{self.config.data.name}' has {positives} "
        f"positive and {negatives} negative examples; a ROC curve needs both: choose "
        + " and ".join(f"--config.evals.{self.name}.{k}=SPLIT" for k in keys)
        + f" (a split with both), or another --config.evals.{self.name}.positive_from")

  def check(self):
    """Before training: each split's files are readable, it holds records and, from the
    labels alone (where the data can give them without decoding images), both classes."""
    for split, source in self.sources.items():
      check_split(f"evals.{self.name}", self.config.data, split, source)
      logging.info("%s: reading the labels of split '%s' to check both classes are there",
                   self.name, split)
      labels = source.labels()
      if labels is None:
        continue
      labels = np.asarray(labels)
      labels = labels[(labels >= 0) & (labels < self.num_classes)]  # others are bad records
      positives = int((labels >= self.eval_config.positive_from).sum())
      self._require_both_classes(split, positives, len(labels) - positives)

  def _predictions(self, states, split: str) -> dict:
    """Scores, predicted classes and labels of every (good) example of `split`."""
    out, _ = collect_over_split(self, states, self._per_example, self.sources[split])
    out = {k: out.get(k, np.zeros(0)) for k in ("score", "prediction", "label")}
    out["positive"] = out["label"] >= self.eval_config.positive_from
    positives = int(out["positive"].sum())
    self._require_both_classes(split, positives, len(out["positive"]) - positives)
    return out

  def run(self, state, workdir=None) -> dict:
    c = self.eval_config
    states = self.ensemble.states(state)
    found = {split: self._predictions(states, split) for split in self.sources}
    ev, op = found[c.split], found[c.operating_split]
    operating_curve = roc_curve(op["score"], op["positive"])
    thresholds = {
        "high_sensitivity": threshold_for_sensitivity(operating_curve, c.high_sensitivity),
        "high_specificity": threshold_for_specificity(operating_curve, c.high_specificity)}
    metrics = {"auc": auc(ev["score"], ev["positive"]),
               "operating_auc": auc(op["score"], op["positive"])}
    points = {}
    for name, threshold in thresholds.items():
      sens, spec = sensitivity_specificity(ev["score"], ev["positive"], threshold)
      op_sens, op_spec = sensitivity_specificity(op["score"], op["positive"], threshold)
      points[name] = {"threshold": _probability(threshold),
                      "threshold_log_odds": threshold if np.isfinite(threshold) else None,
                      "sensitivity": sens, "specificity": spec,
                      "operating_sensitivity": op_sens, "operating_specificity": op_spec}
      metrics.update({f"{name}/sensitivity": sens, f"{name}/specificity": spec,
                      f"{name}/threshold": _probability(threshold)})
    metrics.update({
        "accuracy": float(np.mean(ev["prediction"] == ev["label"])),
        "kappa": quadratic_kappa(ev["label"], ev["prediction"], self.num_classes),
        "num_examples": len(ev["label"]), "num_positives": int(ev["positive"].sum()),
        "bad_records": self.sources[c.split].num_bad})
    if workdir and self.process_index == 0:
      self._write(workdir, roc_curve(ev["score"], ev["positive"]), points, metrics)
    return metrics

  def _write(self, workdir, curve, points, metrics):
    c = self.eval_config
    thresholds, sensitivity, specificity = curve
    corners = _corners(1 - specificity, sensitivity)
    summary = {
        "split": c.split, "operating_split": c.operating_split,
        "positive_from": c.positive_from, "targets": {
            "high_sensitivity": c.high_sensitivity, "high_specificity": c.high_specificity},
        "metrics": metrics, "operating_points": points,
        "curve": {"threshold": [_probability(t) for t in thresholds[corners]],
                  "sensitivity": sensitivity[corners].tolist(),
                  "specificity": specificity[corners].tolist()}}
    with open(os.path.join(workdir, f"roc_{c.split}.json"), "w") as f:
      json.dump(summary, f, indent=1)
    self._plot(os.path.join(workdir, f"roc_{c.split}.png"), sensitivity, specificity,
               points, metrics)

  def _plot(self, path, sensitivity, specificity, points, metrics):
    c = self.eval_config
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    ax.plot(1 - specificity, sensitivity, color="tab:blue", lw=1.5)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    for (name, point), marker in zip(points.items(), ("o", "s")):
      ax.plot(1 - point["specificity"], point["sensitivity"], marker, color="tab:red",
              label=f"{name.replace('_', ' ')}: sens {point['sensitivity']:.1%}, "
                    f"spec {point['specificity']:.1%}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
           title=f"{c.split}: AUC {metrics['auc']:.4f} ({metrics['num_positives']} of "
                 f"{metrics['num_examples']} positive)")
    ax.legend(loc="lower right", fontsize=8,
              title=f"thresholds chosen on {c.operating_split}", title_fontsize=8)
    fig.savefig(path)
