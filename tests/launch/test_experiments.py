"""Every experiment's smoke variant trains and evaluates end to end on the suite's eight
devices, and every variant's batch sizes run on 1, 2, 4 and 8."""
import json
import os

import numpy as np
import pytest

from conftest import launch
from launch import config as config_lib

# dr_inception_v3:smoke runs the same network through the loop as imagenet_inception_v3's.
# GoogLeNet's (~100 s on 8 CPU devices) is slow: tests/models/test_googlenet.py runs its
# network forward and backward in make test; every variant's batches are checked below.
SMOKES = [pytest.param("imagenet_googlenet", marks=pytest.mark.slow),
          pytest.param("imagenet_inception_v3", marks=pytest.mark.slow),
          "imagenet_resnet50", "dr_inception_v3"]


@pytest.mark.parametrize("experiment", SMOKES)
def test_smoke_run(experiment, tmp_path):
  launch(f"--experiment={experiment}:smoke", f"--workdir={tmp_path}")
  with open(os.path.join(tmp_path, "results.json")) as f:
    results = json.load(f)
  assert results["step"] == 6 and results["train_step_compilations"] == 1
  assert results["devices"] == 8
  assert results["data"]["stand_in"] is True
  config = config_lib.load_experiment(f"{experiment}:smoke")
  for name in config.evals:  # every evaluator reports on the whole stand-in split
    assert results[f"{name}/num_examples"] == 64
  assert all(np.isfinite(v) for v in results.values() if isinstance(v, float))
  with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
    train = [json.loads(line) for line in f if "train/loss" in line]
  assert train and all(np.isfinite(m["train/loss"]) for m in train)
  if config.aux_loss_weight:  # the auxiliary classifiers are trained and logged
    assert "train/aux_loss_0" in train[-1]
    assert train[-1]["train/total_loss"] > train[-1]["train/loss"]


def test_every_experiment_has_a_stand_in_and_a_smoke_variant():
  for name in config_lib._experiment_names():
    module = config_lib._experiment_module(name)
    assert {"synthetic", "smoke"} <= set(module.VARIANTS), name
    assert config_lib.resolve(f"{name}:smoke").total_steps == 6, name


@pytest.mark.slow
def test_averaged_weights_evaluate_as_well_as_the_last_ones(tmp_path):
  """dr_inception_v3:synthetic (150 of its 300 steps, for time) with the ImageNet default's
  EMA decay 0.9999 evaluates within 3 AUC points of the weights it trained (the same run
  without averaging: averaging does not touch training), evaluated from its checkpoint
  (with a constant decay 98.5% of the evaluated weights were the random start). Measured:
  AUC 0.690 averaged, 0.706 trained, 0.402 with the constant decay before the warm-up
  (one run, ~35 min on 2 loaded cores, ~5 min each evaluation)."""
  averaged, trained = tmp_path / "ema", tmp_path / "trained"
  launch("--experiment=dr_inception_v3:synthetic", f"--workdir={averaged}",
         "--config.ema_decay=0.9999", "--config.total_steps=150", devices=1, timeout=7200)
  launch("--experiment=dr_inception_v3:synthetic", f"--workdir={trained}",
         "--config.ema_decay=0.0", "--config.total_steps=0", f"--config.init_from={averaged}",
         devices=1, timeout=1800)
  auc = {}
  for workdir in (averaged, trained):
    with open(workdir / "results.json") as f:
      auc[workdir.name] = json.load(f)["test/auc"]
  assert auc["trained"] > 0.65, auc
  assert abs(auc["ema"] - auc["trained"]) < 0.03, auc


def test_every_variant_trains_and_evaluates_on_1_2_4_and_8_devices():
  """Batches that do not split over a mesh are padded (tasks with `MASKED_BATCHES`) or
  refused (`launch.train._train_rows`); evaluation batches are always padded."""
  import importlib  # pylint: disable=import-outside-toplevel
  from launch import train  # pylint: disable=import-outside-toplevel
  for name in config_lib._experiment_names():
    module = config_lib._experiment_module(name)
    for variant in [None, *module.VARIANTS]:
      config = module.get_config(variant)
      task = importlib.import_module(f"zoo.tasks.{config.task}")
      for devices in (1, 2, 4, 8):
        rows = train._train_rows(config, task, devices)
        assert rows % devices == 0 and 0 <= rows - config.batch_size < devices, (name, variant)
