"""The attribute-manipulation smoke runs end to end through `launch.run` (eight devices): the
perceptual network `face_attribute_classifier:smoke` first, then `face_attributes:smoke`,
which trains its judge stage (another classifier) and is judged by it, with its pictures."""
import json
import os

import numpy as np

from conftest import launch


def read(path):
  with open(path) as f:
    return json.load(f)


def test_classifier_then_manipulation_smoke_runs(tmp_path):
  judge = tmp_path / "face_attribute_classifier_smoke"
  launch("--experiment=face_attribute_classifier:smoke", f"--workdir={judge}")
  results = read(judge / "results.json")
  assert results["step"] == 6 and results["data"]["stand_in"]
  assert 0 <= results["attributes/mean_accuracy"] <= 1
  assert results["attributes/num_examples"] == 40
  assert os.path.exists(judge / "attribute_accuracy.md")

  run = tmp_path / "face_attributes_smoke"
  launch("--experiment=face_attributes:smoke", f"--workdir={run}",
         f"--config.manipulation.classifier={judge}")
  results = read(run / "results.json")
  assert results["step"] == 6 and results["train_step_compilations"] == 1
  # The judge stage trained a second classifier apart (seed 1, twice the width) beside it.
  judged = read(run / "attribute_manipulation.json")
  assert judged["judge"] == str(tmp_path / "face_attribute_classifier_smoke_judge")
  assert judged["perceptual_features"] == str(judge)
  judge_config = read(tmp_path / "face_attribute_classifier_smoke_judge" / "config.json")
  assert (judge_config["seed"], judge_config["model"]["width"]) == (1, 16)
  m = {k.split("/", 1)[1]: v for k, v in results.items() if k.startswith("manipulation/")}
  for key in ("success_rate", "success_floor", "success_ceiling", "unchanged_share",
              "perceptual_network_success_rate",
              "true_edit_success_rate", "true_edit_unchanged_share"):
    assert 0 <= m[key] <= 1, key
  assert m["num_sources"] == 20 and m["fd"] >= 0 and m["fd_floor"] >= 0
  assert m["true_edit_perceptual_distance"] > 0
  assert 0 < m["pixel_error_unedited"] < 2
  for name in ("triplets_Eyeglasses.png", "localisation_Eyeglasses.png"):
    assert os.path.getsize(run / name) > 100
  with open(run / "metrics.jsonl") as f:
    train = [r for r in map(json.loads, f) if "train/g_loss" in r]
  assert train and all(np.isfinite(train[-1][f"train/{k}"]) for k in (
      "g_loss", "d_loss", "a_loss", "content_loss", "attribute_loss", "adversarial_loss"))
  assert train[-1]["train/g_grad_norm"] > 0 and train[-1]["train/sources"] > 0
