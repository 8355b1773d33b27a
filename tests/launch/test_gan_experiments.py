"""The GAN experiments' smoke runs end to end through `launch.run` (eight devices), with the
loop's resume and NaN guard on the adversarial state."""
import json
import os

import numpy as np
import pytest

from conftest import error_line, launch

GAN_METRICS = ("train/d_loss", "train/g_loss", "train/d_real", "train/d_fake",
               "train/d_grad_norm", "train/g_grad_norm")


def read(workdir, name="results.json"):
  with open(os.path.join(workdir, name)) as f:
    return json.load(f)


def train_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [r for r in map(json.loads, f) if "train/d_loss" in r]


@pytest.mark.parametrize("experiment,pictures", [
    ("gan_digits", ("samples_000003.png", "samples_000006.png")),
    ("dcgan_faces", ("samples_000006.png",)),
])
def test_image_gan_smoke_runs(experiment, pictures, tmp_path):
  launch(f"--experiment={experiment}:smoke", f"--workdir={tmp_path}")
  results = read(tmp_path)
  assert results["step"] == 6 and results["train_step_compilations"] == 1
  assert results["data"]["stand_in"] == (experiment == "dcgan_faces")
  assert results["frechet/fd"] > 0 and results["frechet/fd_floor"] > 0
  assert 0 <= results["frechet/classifier_accuracy"] <= 1
  for name in pictures:
    assert os.path.getsize(tmp_path / name) > 100
  train = train_metrics(tmp_path)
  assert train and all(np.isfinite(train[-1][k]) for k in GAN_METRICS)
  assert 0 < train[-1]["train/d_real"] < 1  # D(x): a probability for the logistic losses


@pytest.fixture(scope="module")
def mixture_run(tmp_path_factory):
  run = tmp_path_factory.mktemp("mixture")
  launch("--experiment=gan_mixture:smoke", f"--workdir={run}")
  return run


def test_mixture_smoke_run(mixture_run):
  results = read(mixture_run)
  assert results["step"] == 6 and results["train_step_compilations"] == 1
  assert results["modes/num_modes"] == 8 and 0 <= results["modes/modes_covered"] <= 8
  assert os.path.exists(mixture_run / "mixture_000006.png")
  assert all(np.isfinite(train_metrics(mixture_run)[-1][k]) for k in GAN_METRICS)


@pytest.mark.slow  # two more runs of the loop
def test_mixture_resumes_and_stops_on_a_non_finite_loss(mixture_run, tmp_path):
  launch("--experiment=gan_mixture:smoke", f"--workdir={mixture_run}",
         "--config.total_steps=8")  # resumes the adversarial state at step 6
  assert read(mixture_run)["train_steps_this_run"] == 2 and read(mixture_run)["step"] == 8
  proc = launch("--experiment=gan_mixture:smoke", f"--workdir={tmp_path}",
                "--config.schedule.base_lr=1e30", check=False)
  assert proc.returncode == 2
  assert error_line(proc.stderr).startswith("error: non-finite")
