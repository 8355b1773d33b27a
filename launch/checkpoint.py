"""Orbax checkpoints of the train state together with the data-iterator state.

Also the best checkpoint by a metric (`BestCheckpoint`); reading weights for `init_from`
and ensembles lives in `zoo/checkpoints.py`, which the library uses too.

A checkpoint that cannot be read back (truncated or corrupted files) is moved to
`WORKDIR/corrupt_checkpoints/` and the next newest one is used, with a warning.

A step directory holds `state` (the task's train state, any pytree) and `data` (one
JSON file per process with its grain iterator state), so a resumed run reads exactly
the batches it would have read. Orbax writes each step to a temporary directory and
renames it only when complete, so a killed save leaves no half-written step behind.
"""
import contextlib
import dataclasses
import json
import os
import shutil
from typing import Any

import jax
import orbax.checkpoint as ocp
from absl import logging
from etils import epath

from zoo.checkpoints import BEST_DIR, load_params, restore_on_host  # noqa: F401 (re-exported)


class DataStateHandler(ocp.CheckpointHandler):
  """Saves a JSON-able iterator state per process (`process_I-of-N.json`)."""

  def _file(self, directory):
    return epath.Path(directory) / f"process_{jax.process_index()}-of-{jax.process_count()}.json"

  def save(self, directory, args):
    self._file(directory).write_text(json.dumps(args.state))

  def restore(self, directory, args=None):
    path = self._file(directory)
    if not path.exists():
      # Written by another number of processes: the state counts global batches and is
      # the same in every process (zoo.data.pipeline), so any process's file serves.
      others = sorted(epath.Path(directory).glob("process_*-of-*.json"))
      if not others:
        raise FileNotFoundError(f"no data-iterator state in {directory}")
      path = others[0]
    return json.loads(path.read_text())

  def metadata(self, directory):
    return None

  def finalize(self, directory):
    pass

  def close(self):
    pass


@ocp.args.register_with_handler(DataStateHandler, for_save=True)
@dataclasses.dataclass
class DataStateSave(ocp.args.CheckpointArgs):
  state: Any


@ocp.args.register_with_handler(DataStateHandler, for_restore=True)
@dataclasses.dataclass
class DataStateRestore(ocp.args.CheckpointArgs):
  pass


class CheckpointWriteError(OSError):
  """A checkpoint could not be written (disk full, unwritable); older ones are intact."""


class Checkpointer:
  """Keeps the last `keep` checkpoints of a run under `WORKDIR/checkpoints`."""

  def __init__(self, workdir: str, keep: int = 3):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    self.manager = ocp.CheckpointManager(
        self.directory, item_names=("state", "data"),
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                             cleanup_tmp_directories=True))

  def latest_step(self):
    return self.manager.latest_step()

  def save(self, step: int, state, data_state) -> None:
    """Starts an asynchronous save; errors of the previous save surface here or in wait()."""
    with self._write_errors(step):
      self.manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(state), data=DataStateSave(data_state)), force=True)

  @contextlib.contextmanager
  def _write_errors(self, step):
    try:
      yield
    except Exception as e:
      intact = [s for s in self.manager.all_steps() if s != step]
      raise CheckpointWriteError(
          f"cannot write a checkpoint to {self.directory}: {str(e).splitlines()[0]}. "
          f"Completed checkpoints are intact (newest: step {max(intact) if intact else None})"
      ) from None

  def restore(self, step: int, abstract_state):
    """Restores into `abstract_state`'s shapes, dtypes and shardings (any mesh)."""
    out = self.manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), data=DataStateRestore()))
    return out.state, out.data

  def restore_latest(self, abstract_state):
    """(step, state, data state) of the newest readable checkpoint, or None if none is."""
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        return (step, *self.restore(step, abstract_state))
      except Exception as e:  # orbax/tensorstore raise many types for damaged files
        quarantine = os.path.join(os.path.dirname(self.directory), "corrupt_checkpoints")
        if jax.process_index() == 0:
          os.makedirs(quarantine, exist_ok=True)
          shutil.move(os.path.join(self.directory, str(step)),
                      os.path.join(quarantine, f"{step}-{os.getpid()}"))
        logging.warning("checkpoint of step %d in %s is unreadable (%s: %s); moved to %s, "
                        "falling back to an older one", step, self.directory,
                        type(e).__name__, str(e).splitlines()[0][:200] if str(e) else "", quarantine)
        self.manager.reload()
    return None

  def wait(self):
    with self._write_errors(None):
      self.manager.wait_until_finished()

  def close(self):
    with self._write_errors(None):
      self.manager.close()


class BestCheckpoint:
  """The train state of the best evaluation so far by one metric (`--config.keep_best=
  METRIC:max|min`), in `WORKDIR/best_checkpoint/STEP`, for `init_from=WORKDIR:best`.

  A second Orbax manager beside the run's own (max_to_keep=1, `best_fn`/`best_mode` on the
  metric, which Orbax records with the step), not `best_fn` on the run's manager: that
  would keep the N best checkpoints instead of the last N, and a resumed run needs the
  newest one (with its data-iterator state); here the two policies stay independent and
  the rotation of the last N never deletes the best. Only an improvement is written (a
  tie keeps the earlier step), so evaluations that do not improve cost nothing; the
  best value so far is read back from Orbax's record when a run resumes.
  """

  def __init__(self, workdir: str, metric: str, mode: str):
    self.metric, self.mode = metric, mode
    self.directory = os.path.join(os.path.abspath(workdir), BEST_DIR)
    self.manager = ocp.CheckpointManager(
        self.directory, item_names=("state",),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, create=True, cleanup_tmp_directories=True,
            best_fn=lambda metrics: metrics[metric], best_mode=mode))
    step = self.manager.best_step()
    self.best = (self.manager.metrics(step) or {}).get(metric) if step is not None else None
    self.best_step = step

  def update(self, step: int, state, results: dict) -> bool:
    """Saves `state` if `results[metric]` beats the best so far; whether it did."""
    if self.metric not in results:
      raise ValueError(f"--config.keep_best: the evaluation gave no '{self.metric}'; it gave "
                       f"{', '.join(sorted(k for k in results if '/' in k))}")
    value = float(results[self.metric])
    if self.best is not None and not (value > self.best if self.mode == "max"
                                      else value < self.best):
      return False
    with _write_errors_to(self.directory):
      self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)),
                        metrics={self.metric: value}, force=True)
    logging.info("best %s so far: %.6g at step %d (was %s); saved in %s", self.metric, value,
                 step, "none" if self.best is None else f"{self.best:.6g}", self.directory)
    self.best, self.best_step = value, step
    return True

  def wait(self):
    with _write_errors_to(self.directory):
      self.manager.wait_until_finished()

  def close(self):
    with _write_errors_to(self.directory):
      self.manager.close()


@contextlib.contextmanager
def _write_errors_to(directory):
  try:
    yield
  except Exception as e:
    raise CheckpointWriteError(
        f"cannot write the best checkpoint to {directory}: {str(e).splitlines()[0]}") from None
