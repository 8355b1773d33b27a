"""Orbax checkpoints of the train state together with the data-iterator state.

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


def restore_on_host(state_dir) -> dict:
  """A saved state tree as arrays on the first local device, whatever mesh wrote it."""
  checkpointer = ocp.StandardCheckpointer()
  metadata = checkpointer.metadata(state_dir).item_metadata
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                        metadata.tree)
  return checkpointer.restore(state_dir, target)


def load_params(path: str) -> dict:
  """The raw state tree of a checkpoint (a workdir, its `checkpoints/` or a step dir),
  as host arrays, for `init_from`: parameters only, nothing of the optimizer is used."""
  path = epath.Path(path)
  for candidate in (path / "checkpoints", path):
    if candidate.is_dir() and (candidate / "state").is_dir():
      return restore_on_host(candidate / "state")
    if candidate.is_dir():
      steps = ocp.utils.checkpoint_steps(candidate)
      if steps:
        return restore_on_host(candidate / str(max(steps)) / "state")
  raise FileNotFoundError(f"--config.init_from='{path}' holds no checkpoint")
