"""The per-layer comparison finds every convolution of the network and reports both sides."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT
from benchmarks import layers as bench_layers


def test_layers_are_every_convolution_of_the_network_with_counts():
  layers, library = bench_layers.conv_layers("inception_v3", 299)
  assert library == "eigen"
  assert sum(x["count"] for x in layers) == 94  # Keras' InceptionV3 has 94 Conv2D layers
  first = layers[0]
  assert (first["input"], first["kernel"], first["stride"], first["padding"],
          first["features"], first["input_grad"]) == ([299, 299, 3], [3, 3], [2, 2], "VALID",
                                                      32, False)
  assert all(x["input_grad"] for x in layers[1:])
  # 1x1 convolutions on the 768-channel 17x17 grid: mixed4-7's 1x1, 7x7 and 7x7dbl heads
  # and pool branches (128/160/192 features), mixed8's two 192 heads (no auxiliary head,
  # as in Keras)
  heads = [x for x in layers if x["input"] == [17, 17, 768] and x["kernel"] == [1, 1]]
  assert sorted((x["features"], x["count"]) for x in heads) == \
      [(128, 2), (160, 4), (192, 12)]


@pytest.mark.slow  # imports TensorFlow and compiles every layer on both sides: ~15 s
def test_report_has_both_sides_for_every_layer(tmp_path):
  pytest.importorskip("tensorflow")
  env = dict(os.environ, XLA_FLAGS="")
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.layers", "--model=resnet50", "--size=32",
       "--batch=2", "--repeats=1", f"--out={tmp_path}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "layers_resnet50.json") as f:
    r = json.load(f)
  assert sum(x["count"] for x in r["layers"]) == 53  # ResNet-50's convolutions
  assert all(x["ours_ms"] > 0 and x["tensorflow_ms"] > 0 for x in r["layers"])
  assert r["ours_ms"] == pytest.approx(sum(x["count"] * x["ours_ms"] for x in r["layers"]))
  assert r["ratio"] == pytest.approx(r["tensorflow_ms"] / r["ours_ms"])
  assert r["ours"].startswith("jax ") and r["tensorflow"].startswith("tensorflow ")
  table = (tmp_path / "layers_resnet50.md").read_text()
  assert table.strip() in proc.stdout and len(table.splitlines()) == 5 + len(r["layers"])
