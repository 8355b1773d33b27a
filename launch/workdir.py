"""Claiming a workdir: writable, used by one run at a time, holding this experiment only.

A second run on the same workdir is refused (an advisory `flock`, released by the OS even
when a run is SIGKILLed). A workdir whose checkpoints belong to another experiment is
refused unless `--restart`, which moves the old run into `DIR/archived/TIME/`: nothing
already saved is deleted.
"""
import fcntl
import json
import os
import shutil
import time

# What makes two configs the same run; other fields (total_steps, lr...) may change on resume.
IDENTITY = ("experiment", "task", "model.name", "data.name")
RUN_FILES = ("checkpoints", "config.json", "metrics.jsonl", "results.json", "tensorboard",
             "best_checkpoint")


class WorkdirError(RuntimeError):
  """The workdir cannot be used for this run; the message says why and what to do."""


def _identity(config: dict) -> dict:
  out = {}
  for key in IDENTITY:
    node = config
    for part in key.split("."):
      node = node.get(part) if isinstance(node, dict) else None
    out[key] = node
  return out


def claim(workdir: str, config, *, restart: bool = False):
  """Checks and locks `workdir` for this run; returns the lock (keep it open)."""
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, ".write_probe")
    with open(probe, "w") as f:
      f.write("ok")
    os.remove(probe)
  except OSError as e:
    raise WorkdirError(f"--workdir={workdir} is not a writable directory: {e.strerror}") from None

  lock = open(os.path.join(workdir, ".lock"), "a+")
  try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    lock.seek(0)
    owner = lock.read().strip() or "unknown"
    lock.close()
    raise WorkdirError(f"--workdir={workdir} is in use by another run (pid {owner}); "
                       "wait for it or choose another workdir") from None
  lock.seek(0)
  lock.truncate()
  lock.write(str(os.getpid()))
  lock.flush()

  saved_config = os.path.join(workdir, "config.json")
  has_checkpoints = os.path.isdir(os.path.join(workdir, "checkpoints")) and \
      os.listdir(os.path.join(workdir, "checkpoints"))
  if os.path.exists(saved_config) and has_checkpoints:
    with open(saved_config) as f:
      before = _identity(json.load(f))
    now = _identity(json.loads(config.to_json_best_effort()))
    if before != now:
      if not restart:
        diff = ", ".join(f"{k}: {before[k]!r} -> {now[k]!r}" for k in IDENTITY if before[k] != now[k])
        lock.close()
        raise WorkdirError(f"--workdir={workdir} holds checkpoints of another run ({diff}); "
                           "pass --restart to archive them and start afresh, or use another workdir")
      archive = os.path.join(workdir, "archived", time.strftime("%Y%m%d-%H%M%S"))
      os.makedirs(archive)
      for name in RUN_FILES:
        if os.path.exists(os.path.join(workdir, name)):
          shutil.move(os.path.join(workdir, name), os.path.join(archive, name))
  return lock
