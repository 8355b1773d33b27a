"""Relative aesthetics end to end: the eight experiments of the table from one command
(`aesthetics_table:smoke`: the baseline stage, then the relative network), and stages."""
import json
import os

import numpy as np
import pytest

from conftest import launch
from launch import config as config_lib
from launch import stages, train


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
