"""The persistent compilation cache: a relaunch reads the compiled train step, says so, and
still traces (and counts) it once; `--compilation_cache_dir=` turns it off."""
import json
import os

from conftest import launch
from launch import compilation_cache

SMOKE = "--experiment=imagenet_vgg_f:smoke"  # its step compiles for seconds: it is written


def _results(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def test_a_resumed_run_reads_the_step_from_the_cache(tmp_path, monkeypatch):
  cache = tmp_path / "cache"  # its own cache: the suite's shared one may hold the step already
  monkeypatch.setenv(compilation_cache.ENV, str(cache))
  workdir = str(tmp_path / "run")
  first = launch(SMOKE, f"--workdir={workdir}", "--config.total_steps=2")
  assert _results(workdir)["train_step_compiled_from"] == "compiled"
  assert "compilation cache: " + str(cache) in first.stderr
  entries = os.listdir(cache)
  assert len(entries) == 1 and entries[0].startswith("cpu-"), entries  # one folder per CPU
  assert len(os.listdir(cache / entries[0])) >= 2  # the step, the initialiser, ...

  resumed = launch(SMOKE, f"--workdir={workdir}", "--config.total_steps=4")
  results = _results(workdir)
  assert results["train_steps_this_run"] == 2
  assert results["train_step_compiled_from"] == "cache"
  assert results["train_step_compilations"] == 1  # traced once all the same
  assert "the train step was read from the persistent compilation cache" in resumed.stderr


def test_empty_turns_it_off_and_entries_are_kept_apart_per_cpu(monkeypatch):
  assert compilation_cache.enable("") is None and compilation_cache.enable(None) is None
  monkeypatch.setattr(compilation_cache, "_cpu_id", lambda: "abc")
  monkeypatch.setattr("jax.config.update", lambda *a: None)  # leave this worker's cache be
  monkeypatch.setattr(compilation_cache._Counter, "install", lambda: None)  # pylint: disable=protected-access
  assert compilation_cache.enable("~/c") == os.path.expanduser("~/c/cpu-abc")
