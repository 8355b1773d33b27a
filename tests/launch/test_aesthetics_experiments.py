"""Relative aesthetics end to end: the eight experiments of the table from one command
(`aesthetics_table:smoke`: the baseline stage, then the relative network), and stages."""
import json
import os

import numpy as np
import pytest

from conftest import launch
from launch import config as config_lib
from launch import stages, train
from zoo.data import ava
from zoo.evaluators import ranking


def _results(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def test_table_smoke_runs_both_trainings_and_all_eight_tests(tmp_path):
  workdir, data = tmp_path / "run", tmp_path / "data"
  launch("--experiment=aesthetics_table:smoke", f"--workdir={workdir}",
         f"--config.data.dir={data}")
  results, baseline = _results(workdir), _results(workdir / "baseline")
  for r, experiment in ((results, "aesthetics_table:smoke"),
                        (baseline, "aesthetics_baseline:smoke")):
    assert r["experiment"] == experiment and r["step"] == 6
    assert r["data"]["stand_in"] is True and r["train_step_compilations"] == 1
  written = [d for d in os.listdir(data) if d.startswith("ava_stand_in-")]
  assert len(written) == 1  # one stand-in, shared by both runs
  columns = ("ranking_custom", "ranking_standard", "classification_custom",
             "classification_standard")
  for name in columns:
    for value in (results[f"table/relative/{name}/accuracy"],
                  results[f"table/baseline/{name}/accuracy"], baseline[f"{name}/accuracy"]):
      assert 0.0 <= value <= 1.0
    assert results[f"table/baseline/{name}/accuracy"] == baseline[f"{name}/accuracy"]
  # Every test pair of the run's pair list is evaluated; its images are the custom test set.
  with open(workdir / "pairs" / "test_pairs.tsv") as f:
    test_pairs = [line.split("\t") for line in f.read().splitlines()[1:]]
  assert results["table/relative/ranking_custom/num_pairs"] == len(test_pairs)
  assert results["table/relative/classification_custom/num_examples"] == len(
      {p[0] for p in test_pairs} | {p[1] for p in test_pairs})
  with open(workdir / "pairs" / "train_pairs.tsv") as f:
    train_ids = {i for line in f.read().splitlines()[1:] for i in line.split("\t")[:2]}
  assert not train_ids & ({p[0] for p in test_pairs} | {p[1] for p in test_pairs})
  # The relative network's threshold comes from validation images, the baseline's is 0.
  assert np.isfinite(results["table/relative/classification_standard/threshold"])
  assert baseline["classification_standard/threshold"] == 0.0
  table = (workdir / "aesthetics_table.md").read_text()
  assert "| Baseline (paper, AVA) | 62.21 | 65.87 | 59.92 | 69.18 |" in table
  assert "| Relative aesthetics (ours) |" in table and "STAND-IN DATA, not AVA" in table
  assert (workdir / "pairs_test_pairs.png").stat().st_size > 1000
  assert (workdir / "baseline" / "pairs_standard_test_pairs.png").exists()


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["aesthetics_relative", "aesthetics_baseline"])
def test_smoke_run(experiment, tmp_path):
  launch(f"--experiment={experiment}:smoke", f"--workdir={tmp_path / 'run'}",
         f"--config.data.dir={tmp_path / 'data'}")
  results = _results(tmp_path / "run")
  assert results["step"] == 6 and results["data"]["stand_in"] is True
  assert 0 <= results["ranking_standard/accuracy"] <= 1


def test_one_data_dir_override_reaches_the_stage():
  config = config_lib.resolve("aesthetics_table:smoke", ["data.dir=/somewhere/ava"])
  assert config.stages.baseline.data.dir == "/somewhere/ava"
  assert config.stages.baseline.model.head == "binary" and config.model.head == "relative"
  assert config.stages.baseline.data.train_split == "train_images"


def test_stages_run_in_order_and_done_ones_are_skipped(tmp_path, monkeypatch):
  ran = []
  monkeypatch.setattr(train, "run", lambda config, workdir: ran.append(workdir) or {})
  config = config_lib.resolve("aesthetics_table:smoke")
  listed = stages.stages_of(config, str(tmp_path))
  assert [s["name"] for s in listed] == ["baseline"]
  assert stages.run_all(config, str(tmp_path)) is None
  assert ran == [str(tmp_path / "baseline")]
  (tmp_path / "baseline" ).mkdir(exist_ok=True)
  (tmp_path / "baseline" / "results.json").write_text("{}")
  assert stages.run_all(config, str(tmp_path)) is None and len(ran) == 1  # done: skipped
  os.remove(tmp_path / "baseline" / "results.json")
  monkeypatch.setattr(train, "run", lambda config, workdir: {"preempted": 3})
  assert stages.run_all(config, str(tmp_path)) == {"preempted": 3}


def test_an_empty_evaluation_split_stops_the_run_before_training(tmp_path):
  """AVA's real format: 40 rateable images and a custom test set of one image, which no
  pair can hold: the run stops before it trains, naming the split and the pair rule; an
  empty test set names its fraction."""
  from data.test_ava import write_ava  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  rows = []
  for k in range(40):
    counts = np.bincount(np.clip(np.rint(rng.uniform(2, 8) + rng.normal(0, 1, 40)), 1, 10)
                         .astype(int) - 1, minlength=10)
    rows.append((1000 + k, counts.tolist(), 1))
  write_ava(tmp_path / "ava", rows, test_ids=range(1030, 1040))
  resolve = lambda fraction: config_lib.resolve("aesthetics_relative:smoke", [
      "--config.data.name=ava", f"--config.data.dir={tmp_path / 'ava'}",
      "--config.data.validation_fraction=0.2", f"--config.data.test_fraction={fraction}"])
  with pytest.raises(ValueError) as e:
    train.run(resolve(0.04), str(tmp_path / "run"))  # 0.04 x 30 images: 1
  rule = ("of the 1 images of set 'test', 1 have a vote variance <= --config.data.max_vote_"
          "variance=2.6, and no two of them of one challenge have mean ratings --config.data."
          "min_rating_gap=1.0 apart")
  # The evaluators are checked in key order: the custom test images (those of its pairs) first.
  assert str(e.value) == ("evals.classification_custom: split 'test_images' of data 'ava' has "
                          "no records: its images are those of the custom test pairs, and "
                          + rule)
  assert sorted(os.listdir(tmp_path / "run")) == [".lock", "config.json"]  # nothing trained
  config = resolve(0.04)
  evaluator = ranking.Evaluator(config.evals.ranking_custom, config=config, predict_fn=None,
                                to_device=None, name="ranking_custom")
  with pytest.raises(ValueError) as e:
    evaluator.check()
  assert str(e.value) == ("evals.ranking_custom: split 'test_pairs' of data 'ava' has no "
                          "records: " + rule)
  assert ava.empty_reason(resolve(0.01).data, "test_pairs") == (
      "--config.data.test_fraction=0.01 of the 30 images outside the standard test list is "
      "none")
