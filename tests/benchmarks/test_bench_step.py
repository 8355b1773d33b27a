"""The benchmark harness measures a real step and the input pipeline, and says so."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.slow  # compiles and times a step: ~17 s (make test's 10-minute budget)
def test_bench_reports_step_flops_memory_and_input_ratio(tmp_path):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8")
  proc = subprocess.run(
      [sys.executable, "-m", "benchmarks.step", "--experiment=imagenet_vgg_f:smoke", "--steps=3",
       "--input_batches=5", f"--out={tmp_path}"], cwd=ROOT, env=env, capture_output=True,
      text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(tmp_path / "imagenet_vgg_f_smoke.json") as f:
    r = json.load(f)
  assert r["devices"] == 8 and r["batch_size"] == 16 and r["stand_in_data"] is True
  assert r["step_s_p10"] <= r["step_s_median"] <= r["step_s_p90"]
  assert r["examples_per_s_per_device"] == 16 / r["step_s_median"] / 8
  assert r["flops_per_step_per_device"] > 1e8  # a VGG-F step on 2 images, forward + backward
  assert r["mfu"] is None  # no peak is known for a CPU
  assert r["peak_host_memory_gib"] > 0 and r["input_examples_per_s"] > 0
  assert r["input_to_step_ratio"] == r["input_examples_per_s"] / (16 / r["step_s_median"])
  assert "| imagenet_vgg_f:smoke | 8x cpu | 16 |" in proc.stdout
