"""Crash-proof runs: random SIGKILLs (also during saves), a corrupted checkpoint, a busy
or unwritable workdir, a workdir of another experiment."""
import glob
import json
import os
import random
import signal
import subprocess
import time

import numpy as np
import pytest

from launch import train

from conftest import error_line, launch, launch_processes, training_started
from test_train import (SMOKE, TIMING, _flatten, assert_trees_equal, final_state, read_json,
                        read_metrics)

ARGS = (SMOKE, "--config.checkpoint_every_steps=2")


def _checkpoint_steps(workdir):
  return sorted(int(s) for s in os.listdir(os.path.join(workdir, "checkpoints")) if s.isdigit())


def _corrupt_newest_checkpoint(workdir):
  steps = _checkpoint_steps(workdir)
  files = [f for f in glob.glob(os.path.join(workdir, "checkpoints", str(steps[-1]), "state", "**"),
                                recursive=True) if os.path.isfile(f) and "ocdbt" in f]
  assert files, "no array data found to corrupt"
  for f in files:
    with open(f, "r+b") as fh:  # keep the size, destroy the content
      size = fh.seek(0, 2)
      fh.seek(0)
      fh.write(os.urandom(size))
  return steps[-1]


def _last_logged_step(workdir):
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.exists(path):
    return -1
  with open(path) as f:
    lines = [line for line in f if line.strip()]
  return json.loads(lines[-1])["step"] if lines else -1


def _run_with_random_kills(workdir, kills, seed, steps):
  """Starts the run `kills` times, SIGKILLing each at a random moment after it has made
  progress (checkpoints are saved every 2 steps, so many kills land during a save)."""
  rng = random.Random(seed)
  killed, during_save, corrupted = 0, 0, False
  for attempt in range(kills):
    before = _last_logged_step(workdir)
    proc = launch(*ARGS, f"--config.total_steps={steps}", f"--workdir={workdir}", wait=False)
    deadline = time.time() + 300
    while _last_logged_step(workdir) <= before and proc.poll() is None:
      assert time.time() < deadline
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 1.0))
    if proc.poll() is None:
      proc.send_signal(signal.SIGKILL)
      killed += 1
    proc.wait()
    # a save cut short leaves its temporary directory behind
    during_save += bool(glob.glob(os.path.join(workdir, "checkpoints", "*orbax-checkpoint-tmp*")))
    if attempt >= kills // 2 and not corrupted and len(_checkpoint_steps(workdir)) >= 2:
      _corrupt_newest_checkpoint(workdir)
      corrupted = True
  return killed, during_save, corrupted


@pytest.mark.parametrize("kills, seed", [
    (3, 0),
    pytest.param(10, 1, marks=pytest.mark.slow),
])
def test_random_kills_and_a_corrupted_checkpoint_end_bitwise_identical(tmp_path, kills, seed):
  straight, chaos = str(tmp_path / "straight"), str(tmp_path / "chaos")
  steps = 8 * kills  # room for every kill to land before the end
  launch(*ARGS, f"--config.total_steps={steps}", f"--workdir={straight}")
  killed, during_save, corrupted = _run_with_random_kills(chaos, kills, seed, steps)
  print(f"{killed} kills, {during_save} during a save, newest checkpoint corrupted once")
  assert killed == kills and corrupted
  if kills >= 10:
    assert during_save >= 1
  launch(*ARGS, f"--config.total_steps={steps}", f"--workdir={chaos}")
  # the corrupted step was detected, moved aside (not deleted), and an older one used
  assert os.listdir(os.path.join(chaos, "corrupt_checkpoints"))
  assert_trees_equal(final_state(straight, steps), final_state(chaos, steps))
  assert read_metrics(straight) == read_metrics(chaos)
  a, b = (read_json(os.path.join(w, "results.json")) for w in (straight, chaos))
  assert {k: v for k, v in a.items() if k not in TIMING} == \
      {k: v for k, v in b.items() if k not in TIMING}


@pytest.mark.slow  # two processes compiling the step: ~45 s of CPU
def test_sigterm_to_one_of_two_processes_saves_the_same_step_on_both(tmp_path):
  # A scheduler may signal one host only: JAX's preemption service tells the other, and
  # both save the step they agreed on (a lone save would hang in Orbax's barriers).
  procs = launch_processes(SMOKE, "--config.total_steps=400",
                           "--config.checkpoint_every_steps=1000", f"--workdir={tmp_path}",
                           wait=False)
  try:
    deadline = time.time() + 300
    while not training_started(str(tmp_path)):
      assert all(p.poll() is None for p in procs) and time.time() < deadline
      time.sleep(0.02)
    procs[1].send_signal(signal.SIGTERM)
    outputs = [p.communicate(timeout=120)[0] for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
  assert [p.returncode for p in procs] == [0, 0], "\n".join(o[-2000:] for o in outputs)
  steps = _checkpoint_steps(str(tmp_path))
  assert len(steps) == 1 and 0 < steps[0] < 400
  for out in outputs:
    assert f"SIGTERM: saved step {steps[0]} " in out
  data = sorted(f for f in os.listdir(os.path.join(tmp_path, "checkpoints", str(steps[0]), "data"))
                if f.startswith("process_"))
  assert data == ["process_0-of-2.json", "process_1-of-2.json"]
  assert not os.path.exists(os.path.join(tmp_path, "results.json"))


def test_second_run_on_a_busy_workdir_is_refused(tmp_path):
  first = launch(SMOKE, "--config.total_steps=400", f"--workdir={tmp_path}", wait=False)
  try:
    deadline = time.time() + 300
    while not training_started(str(tmp_path)):
      assert first.poll() is None and time.time() < deadline
      time.sleep(0.02)
    second = launch(SMOKE, f"--workdir={tmp_path}", check=False)
    assert second.returncode == 2
    assert f"--workdir={tmp_path} is in use by another run (pid {first.pid})" in second.stderr
  finally:
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=120) == 0  # the first run is unharmed and saves


@pytest.mark.slow  # four launches: ~25 s (make test's 10-minute budget)
def test_workdir_of_another_experiment_is_refused_unless_restart(tmp_path):
  launch(SMOKE, f"--workdir={tmp_path}", "--config.total_steps=2")
  other = ("--experiment=imagenet_vgg_f:synthetic", f"--workdir={tmp_path}",
           "--config.total_steps=1", "--config.batch_size=8", "--config.data.num_train=64",
           "--config.data.num_eval=40", "--config.eval_batch_size=8",
           "--config.model.fc_features=256")  # as small as the smoke network: fast to compile
  proc = launch(*other, check=False)
  assert proc.returncode == 2
  assert "holds checkpoints of another run (experiment: 'imagenet_vgg_f:smoke' -> " \
         "'imagenet_vgg_f:synthetic')" in proc.stderr
  assert read_json(os.path.join(tmp_path, "config.json"))["experiment"] == "imagenet_vgg_f:smoke"
  # Only evaluating after --restart: the checkpoints launch.run saw at start-up are archived,
  # nothing is left to evaluate, and random weights are not evaluated in their place.
  proc = launch(*other, "--config.total_steps=0", "--restart", check=False)
  assert proc.returncode == 2
  assert error_line(proc.stderr) == (
      f"error: --config.total_steps=0 only evaluates, but {tmp_path}/checkpoints holds no "
      "checkpoint; name the weights with --config.init_from=PATH")
  assert not os.path.exists(os.path.join(tmp_path, "results.json"))
  launch(*other, "--restart")
  archived = glob.glob(os.path.join(tmp_path, "archived", "*", "checkpoints", "2"))
  assert archived  # the old run is kept, not deleted
  assert read_json(os.path.join(tmp_path, "results.json"))["val/num_examples"] == 40


def test_unwritable_workdir_is_a_clear_error(tmp_path):
  blocker = tmp_path / "a_file"
  blocker.write_text("not a directory")
  proc = launch(SMOKE, f"--workdir={blocker}/run", check=False)
  assert proc.returncode == 2
  assert error_line(proc.stderr).startswith(
      f"error: --workdir={blocker}/run is not a writable directory")


def test_nothing_loaded_runs_code():
  """Checkpoints are Orbax arrays and JSON, data states JSON: no pickle anywhere."""
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  offenders = []
  for folder in ("zoo", "launch", "experiments"):
    for path in glob.glob(os.path.join(root, folder, "**", "*.py"), recursive=True):
      text = open(path).read()
      for needle in ("import pickle", "cloudpickle", "allow_pickle=True", "dill", "marshal.load"):
        if needle in text:
          offenders.append(f"{path}: {needle}")
  assert not offenders


@pytest.fixture
def small_disk(tmp_path):
  """A 30 MB tmpfs: room for one smoke checkpoint, not two."""
  mount = tmp_path / "disk"
  mount.mkdir()
  if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30M", "tmpfs", str(mount)],
                    capture_output=True).returncode:
    pytest.skip("cannot mount a tmpfs here (needs root)")
  yield str(mount)
  subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_is_a_clear_error_and_keeps_the_last_checkpoint(small_disk):
  workdir = os.path.join(small_disk, "run")
  proc = launch(SMOKE, f"--workdir={workdir}", check=False)
  assert proc.returncode == 2, proc.stderr[-3000:]
  message = error_line(proc.stderr)
  assert message.startswith(f"error: cannot write a checkpoint to {workdir}/checkpoints")
  assert "No space left on device" in message and "intact (newest: step 2)" in message
  state = final_state(workdir, 2)  # the completed checkpoint reads back
  assert int(state["step"]) == 2


@pytest.mark.slow
def test_resume_across_process_counts(tmp_path):
  """1 process x 8 devices -> 2 x 4 -> 1 x 8 on one workdir ends where a straight run does."""
  args = (SMOKE, "--config.schedule.name=constant")
  straight, mixed = str(tmp_path / "straight"), str(tmp_path / "mixed")
  launch(*args, "--config.total_steps=6", f"--workdir={straight}")
  launch(*args, "--config.total_steps=2", f"--workdir={mixed}")
  launch_processes(*args, "--config.total_steps=4", f"--workdir={mixed}")
  assert read_json(os.path.join(mixed, "results.json"))["processes"] == 2
  launch(*args, "--config.total_steps=6", f"--workdir={mixed}")
  a, b = final_state(straight, 6), final_state(mixed, 6)
  assert int(b["step"]) == 6
  for (key, x), (_, y) in zip(_flatten(a["params"]), _flatten(b["params"])):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6, err_msg=key)
  assert read_metrics(straight)[-1]["val/top1_accuracy"] == \
      read_metrics(mixed)[-1]["val/top1_accuracy"]


def test_a_failing_close_does_not_hide_the_runs_own_error():
  calls = []

  def close_fails():
    calls.append("fails")
    raise OSError(28, "No space left on device")

  with pytest.raises(KeyError):  # the run's error, not the close's
    try:
      raise KeyError("the run's error")
    finally:
      train._close_all(close_fails, lambda: calls.append("closed"), None)
  assert calls == ["fails", "closed"]  # every closer ran
  with pytest.raises(OSError, match="No space left"):  # nothing else failed: the close's error
    train._close_all(close_fails)

