"""`face_attributes:smoke` with the paper's kind of perceptual network: an ImageNet VGG16
converted from a Keras Applications `_notop` file (random weights here), through the CLI."""
import json
import os
import sys

import numpy as np
import pytest

from conftest import ROOT, launch
from zoo.models import convert

sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
from test_convert import write_legacy_h5  # pylint: disable=wrong-import-position
from test_vgg import notop_layers  # pylint: disable=wrong-import-position


@pytest.mark.slow
def test_face_attributes_smoke_with_a_converted_vgg16(tmp_path):
  h5 = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
  write_legacy_h5(h5, notop_layers(np.random.default_rng(0), 16))
  info = convert.convert_keras("vgg16", h5, str(tmp_path / "vgg16"))
  run = tmp_path / "runs" / "face_attributes_smoke"
  launch("--experiment=face_attributes:smoke", f"--workdir={run}", *info["settings"],
         devices=1)
  with open(run / "config.json") as f:
    assert json.load(f)["manipulation"]["perceptual"] == f"vgg16:{tmp_path / 'vgg16'}"
  with open(run / "metrics.jsonl") as f:
    losses = [json.loads(line)["train/content_loss"] for line in f if "content_loss" in line]
  assert losses and all(np.isfinite(losses)) and max(losses) > 0
  assert os.path.exists(run / "results.json")
