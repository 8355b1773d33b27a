"""Ranking accuracy, the validation-chosen threshold and the paper's table."""
import numpy as np

from zoo.evaluators import aesthetics_table, ranking, score_classification


def test_ranking_accuracy_counts_ties_half():
  d = np.array([1.0, -2.0, 0.5, 0.0])
  y = np.array([1.0, 1.0, -1.0, -1.0])
  assert ranking.ranking_accuracy(d, y) == (1 + 0 + 0 + 0.5) / 4


def test_best_threshold_by_hand():
  scores = np.array([-3.0, -1.0, 0.0, 2.0, 2.0, 5.0])
  labels = np.array([0, 0, 1, 0, 1, 1])
  # Cuts: between -1 and 0 gets 5 of 6 (only the 2.0 negative wrong); any other cut fewer.
  t = score_classification.best_threshold(scores, labels)
  assert t == -0.5
  assert score_classification.accuracy(scores, labels, t) == 5 / 6
  assert score_classification.best_threshold([1.0, 2.0], [1, 1]) < 1.0  # all high
  assert score_classification.best_threshold([1.0, 2.0], [0, 0]) > 2.0  # all low


def test_table_has_the_papers_layout_and_figures():
  ours = {"baseline": dict(zip(aesthetics_table.COLUMNS, (0.6, 0.61, 0.62, 0.63))),
          "relative": {"ranking_custom": 0.7}}
  table = aesthetics_table.format_table(ours, "STAND-IN DATA, not AVA")
  lines = table.splitlines()
  assert lines[0] == ("| | Ranking (custom) | Ranking (standard) | Classification (custom) | "
                      "Classification (standard) |")
  assert lines[2] == "| Baseline (paper, AVA) | 62.21 | 65.87 | 59.92 | 69.18 |"
  assert lines[3] == "| Relative aesthetics (paper, AVA) | 70.51 | 76.77 | 59.41 | 71.60 |"
  assert lines[4] == "| Baseline (ours) | 60.00 | 61.00 | 62.00 | 63.00 |"
  assert lines[5] == "| Relative aesthetics (ours) | 70.00 | - | - | - |"
  assert "STAND-IN DATA, not AVA" in table
