"""Reading saved weights, for whatever needs them: `init_from` in the launcher, ensemble
members in the evaluators, tests. The launcher's `launch/checkpoint.py` writes them (and
manages a run's own checkpoints); this module only reads, so the library never imports
the launcher.

A location is a workdir (its newest checkpoint), `WORKDIR:best` (the checkpoint of the
run's best evaluation, kept with `--config.keep_best=METRIC:max|min` in
`WORKDIR/best_checkpoint/`), a `checkpoints/` folder, a step folder, or a folder holding
`state/` (what `zoo.models.convert` writes).
"""
import jax
import orbax.checkpoint as ocp
from etils import epath

BEST_DIR = "best_checkpoint"  # in a workdir, beside checkpoints/
BEST_SUFFIX = ":best"


def restore(state_dir, target):
  """A saved state into `target` (a pytree of `jax.ShapeDtypeStruct` with shardings: the
  task's state on any mesh), whatever mesh wrote it; nothing is written.

  Read through the item's handler, not a `Checkpointer`: the step's metadata file lies
  one folder up (beside `state/`), and a checkpointer warns that it is missing here."""
  return ocp.StandardCheckpointHandler().restore(state_dir,
                                                 args=ocp.args.StandardRestore(target))


def restore_on_host(state_dir) -> dict:
  """A saved state tree as arrays on the first local device, whatever mesh wrote it."""
  state_dir = epath.Path(state_dir)  # the handler joins paths with '/'
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device),
                        ocp.StandardCheckpointHandler().metadata(state_dir).tree)
  return restore(state_dir, target)


def state_dir(path: str) -> epath.Path:
  """The `state` folder a location (see the module docstring) stands for."""
  text = str(path)
  if text.endswith(BEST_SUFFIX):
    workdir = epath.Path(text[:-len(BEST_SUFFIX)])
    best = workdir / BEST_DIR
    steps = ocp.utils.checkpoint_steps(best) if best.is_dir() else []
    if not steps:
      raise FileNotFoundError(
          f"'{text}': {best} holds no best checkpoint (a run keeps one with "
          "--config.keep_best=METRIC:max|min)")
    return best / str(max(steps)) / "state"  # only improvements are saved
  path = epath.Path(path)
  for candidate in (path / "checkpoints", path):
    if candidate.is_dir() and (candidate / "state").is_dir():
      return candidate / "state"
    if candidate.is_dir():
      steps = ocp.utils.checkpoint_steps(candidate)
      if steps:
        return candidate / str(max(steps)) / "state"
  raise FileNotFoundError(f"--config.init_from='{path}' holds no checkpoint")


def run_state_dir(workdir: str, checkpoint: str = "latest") -> epath.Path:
  """The `state` folder of a run's checkpoint: 'latest' (the newest), 'best' (see
  `BEST_DIR`) or a step number; FileNotFoundError naming the workdir if there is none."""
  checkpoint = str(checkpoint)
  if checkpoint == "best":
    return state_dir(f"{workdir}{BEST_SUFFIX}")
  steps_dir = epath.Path(workdir) / "checkpoints"
  steps = ocp.utils.checkpoint_steps(steps_dir) if steps_dir.is_dir() else []
  if checkpoint == "latest":
    if not steps:
      raise FileNotFoundError(f"{workdir} holds no checkpoint (nothing in {steps_dir})")
    return steps_dir / str(max(steps)) / "state"
  if not checkpoint.isdigit() or int(checkpoint) not in steps:
    raise FileNotFoundError(f"{workdir} holds no checkpoint '{checkpoint}' (latest, best or "
                            f"a step; its steps: {', '.join(map(str, sorted(steps))) or 'none'})")
  return steps_dir / str(int(checkpoint)) / "state"


def load_params(path: str) -> dict:
  """The raw state tree of a checkpoint (see the module docstring for the locations), as
  host arrays, for `init_from` and ensembles: parameters only, nothing of the optimizer
  is used."""
  return restore_on_host(state_dir(path))
