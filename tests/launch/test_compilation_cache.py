"""The persistent compilation cache: a relaunch reads the compiled train step, says so, and
still traces (and counts) it once; `--compilation_cache_dir=` turns it off."""
import json
import os

from conftest import launch
from launch import compilation_cache

SMOKE = ("--experiment=gan_mixture:smoke",)


def _results(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)


def test_a_relaunch_reads_the_step_from_the_cache_and_empty_turns_it_off(tmp_path, monkeypatch):
  cache = tmp_path / "cache"  # its own cache: the suite's shared one may hold the step already
  monkeypatch.setenv(compilation_cache.ENV, str(cache))
  workdir = str(tmp_path / "run")
  first = launch(*SMOKE, f"--workdir={workdir}", "--config.total_steps=2", devices=1)
  assert _results(workdir)["train_step_compiled_from"] == "compiled"
  assert "compilation cache: " + str(cache) in first.stderr
  entries = os.listdir(cache)
  assert len(entries) == 1 and entries[0].startswith("cpu-"), entries  # one folder per CPU
  assert len(os.listdir(cache / entries[0])) > 2

  resumed = launch(*SMOKE, f"--workdir={workdir}", "--config.total_steps=4", devices=1)
  results = _results(workdir)
  assert results["train_steps_this_run"] == 2
  assert results["train_step_compiled_from"] == "cache"
  assert results["train_step_compilations"] == 1  # traced once all the same
  assert "the train step was read from the persistent compilation cache" in resumed.stderr

  off = str(tmp_path / "off")
  proc = launch(*SMOKE, f"--workdir={off}", "--config.total_steps=2",
                "--compilation_cache_dir=", devices=1)
  assert _results(off)["train_step_compiled_from"] is None
  assert "compilation cache: off" in proc.stderr


def test_entries_are_kept_apart_per_cpu(monkeypatch):
  monkeypatch.setattr(compilation_cache, "_cpu_id", lambda: "abc")
  assert compilation_cache.enable("") is None
  monkeypatch.setattr("jax.config.update", lambda *a: None)  # leave this worker's cache be
  monkeypatch.setattr(compilation_cache._Counter, "install", lambda: None)  # pylint: disable=protected-access
  assert compilation_cache.enable("~/c") == os.path.expanduser("~/c/cpu-abc")
