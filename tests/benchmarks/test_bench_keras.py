"""The Keras side-by-side runs both sides on the same batch and reports them alike."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

pytest.importorskip("tensorflow")
pytest.importorskip("keras")

# Trainable parameters at 1000 classes: Keras' ResNet50 (v1 with conv biases) and ours
# switched to it; ours v1.5; Keras' InceptionV3 and ours without the auxiliary head.
PARAMS = {"resnet50": {"ours (v1.5, default)": 25_557_032,
                       "ours, Keras' network (v1, conv biases)": 25_583_592,
                       "keras": 25_583_592},
          "inception_v3": {"ours (no aux head, no dropout)": 23_817_352, "keras": 23_817_352}}


@pytest.mark.slow  # builds and compiles ours and both Keras variants: about a minute each
@pytest.mark.parametrize("model,size", [("resnet50", 64), ("inception_v3", 75)])
def test_side_by_side_report(tmp_path, model, size):
  env = dict(os.environ, XLA_FLAGS="", KERAS_BACKEND="tensorflow")
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.keras_step", f"--model={model}", "--batch=2",
       f"--size={size}", "--repeats=2", "--warmup=0", "--pause=0", "--keras_xla", f"--out={tmp_path}"],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / f"keras_{model}.json") as f:
    r = json.load(f)
  assert (r["batch_size"], r["image_size"], r["dtype"], r["devices"]) == (2, size, "float32", 1)
  assert r["threads"] == len(os.sched_getaffinity(0))
  rows = r["contenders"]
  keras = [c for c in rows if c["side"] == "keras"]
  assert [c["name"].endswith(f"(jit_compile={j})") for c, j in zip(keras, (False, True))] == [True] * 2
  for c in rows:
    assert c["input_shape"] == [2, size, size, 3]  # the same batch on every side
    assert c["trainable_params"] == PARAMS[model]["keras" if c["side"] == "keras" else c["name"]]
    assert c["first_step_s"] > 0 and c["step_s_p10"] <= c["step_s_median"] <= c["step_s_p90"]
    assert c["examples_per_s"] == 2 / c["step_s_median"]
    assert ((c["flops_per_step"] or 0) > 1e8) == (c["side"] == "ours")  # XLA counts ours
  best = max(c["examples_per_s"] for c in keras)
  assert r["keras_reference"] == next(c["name"] for c in keras if c["examples_per_s"] == best)
  assert r["ratio"] == rows[0]["examples_per_s"] / best
  assert all(c["ratio_to_keras"] == c["examples_per_s"] / best for c in rows)
  with open(tmp_path / f"keras_{model}.md") as f:
    table = f.read()
  assert table.strip() in proc.stdout
  assert sum(line.startswith(f"| {c['name']} |") for c in rows for line in table.splitlines()) \
      == len(rows)
