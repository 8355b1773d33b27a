"""The eight experiments of Gattupalli, Chandakkar and Li (ICPR 2016), Table 2, in one table:
a network trained with binary labels (the baseline) and one trained with relative labels,
each tested on ranking and on classification, each on the custom and the standard test set.

Built from an entry of `config.evals` (`type='aesthetics_table'`) with `baseline`: the
baseline run's workdir, relative to this run's (the stage that trains it), and
`evals`: the four evaluations by name ('ranking_custom', 'ranking_standard',
'classification_custom', 'classification_standard'), each an evaluator entry
(`zoo.evaluators.ranking`, `zoo.evaluators.score_classification`) that this run (the
relative network) is tested with; the baseline run's `results.json` holds the same four,
computed by its own evaluators of the same names. Writes `aesthetics_table.md` with the
paper's figures beside ours and the data named (a stand-in says so), and logs it.
"""
import importlib
import json
import os

from absl import logging

from zoo.data import pipeline

COLUMNS = ("ranking_custom", "ranking_standard", "classification_custom",
           "classification_standard")
HEADERS = ("Ranking (custom)", "Ranking (standard)", "Classification (custom)",
           "Classification (standard)")
PAPER = {"baseline": (62.21, 65.87, 59.92, 69.18), "relative": (70.51, 76.77, 59.41, 71.60)}


def format_table(ours: dict, data_line: str) -> str:
  """Markdown: the paper's rows and ours ({'baseline'|'relative': {column: accuracy}})."""
  lines = ["| | " + " | ".join(HEADERS) + " |", "|---" * (len(HEADERS) + 1) + "|"]
  names = {"baseline": "Baseline", "relative": "Relative aesthetics"}
  for who in ("baseline", "relative"):
    lines.append(f"| {names[who]} (paper, AVA) | " + " | ".join(f"{v:.2f}" for v in PAPER[who])
                 + " |")
  for who in ("baseline", "relative"):
    cells = [f"{100 * ours[who][c]:.2f}" if c in ours[who] else "-" for c in COLUMNS]
    lines.append(f"| {names[who]} (ours) | " + " | ".join(cells) + " |")
  return "\n".join(lines + ["", data_line,
                            "Accuracies in %. Ranking: share of test pairs ordered right. "
                            "Classification: high vs low (mean rating >= 5); the relative "
                            "network's threshold is chosen on validation images, the "
                            "baseline uses its softmax decision."])


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config = eval_config, config
    self.process_index = process_index
    missing = set(COLUMNS) - set(eval_config.evals)
    if missing:
      raise ValueError(f"aesthetics_table: evals lacks {', '.join(sorted(missing))}")
    self.evaluators = {}
    for name in COLUMNS:
      sub = eval_config.evals[name]
      module = importlib.import_module(f"zoo.evaluators.{sub.type}")
      self.evaluators[name] = module.Evaluator(
          sub, config=config, predict_fn=predict_fn, to_device=to_device,
          process_index=process_index, process_count=process_count)

  def _data_line(self) -> str:
    module = pipeline.data_module(self.config.data)
    stand_in = getattr(module, "STAND_IN", False)
    if hasattr(module, "stand_in"):
      stand_in = stand_in or module.stand_in(self.config.data)
    summary = module.summary(self.config.data) if hasattr(module, "summary") else ""
    label = "STAND-IN DATA, not AVA: " if stand_in else "Data: "
    return f"{label}{module.DESCRIPTION}; {summary}. Paper rows: AVA."

  def run(self, state, workdir=None) -> dict:
    metrics, ours = {}, {"baseline": {}, "relative": {}}
    for name, evaluator in self.evaluators.items():
      for key, value in evaluator.run(state, workdir).items():
        metrics[f"relative/{name}/{key}"] = value
      ours["relative"][name] = metrics[f"relative/{name}/accuracy"]
    if workdir:
      path = os.path.join(workdir, self.eval_config.baseline, "results.json")
      if not os.path.exists(path):
        raise FileNotFoundError(f"aesthetics_table: no baseline results at {path}; run its "
                                "stage first (launch.run runs the experiment's stages)")
      with open(path) as f:
        baseline = json.load(f)
      for name in COLUMNS:
        if f"{name}/accuracy" in baseline:
          ours["baseline"][name] = baseline[f"{name}/accuracy"]
          metrics[f"baseline/{name}/accuracy"] = baseline[f"{name}/accuracy"]
      if self.process_index == 0:
        table = format_table(ours, self._data_line())
        with open(os.path.join(workdir, "aesthetics_table.md"), "w") as f:
          f.write(table + "\n")
        logging.info("aesthetics table written to %s", os.path.join(workdir, "aesthetics_table.md"))
        print(table, flush=True)
    return metrics
