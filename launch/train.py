"""The one training loop, generic over tasks (`zoo.tasks.<config.task>.Task`).

Data parallel with `jax.jit` over a `Mesh` with one `data` axis spanning every device
of every process: batches are sharded along `data`, the train state is replicated.
The step is compiled once and donates the old state. Per-step randomness is
`fold_in(key, step)`, so a resumed run is bitwise the run that was never stopped.
"""
import collections
import importlib
import json
import os
import signal
import sys
import time

import jax
import numpy as np
import tqdm
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from launch import checkpoint
from launch import compilation_cache
from launch import config as config_lib
from launch import workdir as workdir_lib
from launch.writers import MetricWriter
from zoo.data import pipeline
from zoo.models import conv


class NonFiniteLossError(RuntimeError):
  """A train metric (the loss, the gradient norm) became NaN or Inf; the last good
  checkpoint is kept."""


class _Preemption:
  """SIGTERM as a step at which the loop saves and stops.

  One process: a Python handler sets a flag the loop checks between steps. Several:
  JAX's preemption service, started by `jax.distributed.initialize`, has its own SIGTERM
  handler (so none is installed here, which would replace it); a notice to any process
  reaches all of them through the coordination service, and
  `reached_preemption_sync_point(step)`, called by every process after every step, turns
  True at the same step everywhere (the largest step any process had reached, plus one).
  So all save the same step, even when the scheduler signals only one host.
  """

  def __init__(self):
    self.requested = False
    self.several = jax.process_count() > 1
    self._previous = None if self.several else signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def reached(self, step: int) -> bool:
    """Whether to save and stop after `step`; with several processes every one must call
    this after every step."""
    if self.several and not self.requested:
      self.requested = multihost_utils.reached_preemption_sync_point(step)
    return self.requested

  def restore(self):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def _prefetch_to_device(iterator, to_device, size: int):
  """Yields (iterator state after the batch, device batch), `size` batches ahead."""
  queue = collections.deque()

  def enqueue():
    batch = next(iterator)
    queue.append((iterator.get_state(), to_device(batch)))

  for _ in range(max(1, size)):
    enqueue()
  while True:
    yield queue.popleft()
    enqueue()


def parse_init_from(text: str):
  """`PATH` or `SUBTREE=PATH,SUBTREE=PATH,...` -> [(subtree tuple, path)]; a subtree is a
  '/'-separated key path inside `params` (and each `model_state` collection)."""
  sources = []
  for item in filter(None, (t.strip() for t in text.split(","))):
    subtree, sep, path = item.rpartition("=") if "=" in item else ("", "", item)
    if sep and not (subtree and path):
      raise ValueError(f"--config.init_from: '{item}' is not SUBTREE=PATH")
    sources.append((tuple(filter(None, subtree.split("/"))), path))
  if len(sources) > 1 and any(not sub for sub, _ in sources):
    raise ValueError("--config.init_from: with several sources each must be SUBTREE=PATH")
  return sources


def _merge_pretrained(state, pretrained: dict, subtree: tuple = ()):
  """Copies `params` and `model_state` leaves of matching path and shape from a
  checkpoint (fine-tuning); with `subtree`, the leaves under that sub-tree of ours come
  from the checkpoint's root (a pretrained column or CNN). Returns (state, number copied,
  paths of that sub-tree left at init)."""
  copied, skipped = 0, []

  def pick(path, leaf, depth):
    # path[:depth] is ('params',) or ('model_state', collection); the sub-tree follows.
    nonlocal copied
    names = [getattr(k, "key", getattr(k, "name", None)) for k in path]
    if tuple(names[depth:depth + len(subtree)]) != subtree:
      return leaf  # another source's sub-tree
    node = pretrained
    for name in names[:depth] + names[depth + len(subtree):]:
      if not isinstance(node, dict) or name not in node:
        skipped.append(jax.tree_util.keystr(path))
        return leaf
      node = node[name]
    if np.shape(node) != leaf.shape:
      skipped.append(jax.tree_util.keystr(path))
      return leaf
    copied += 1
    return jax.device_put(np.asarray(node, leaf.dtype), leaf.sharding)

  params = jax.tree_util.tree_map_with_path(
      lambda p, x: pick((jax.tree_util.DictKey("params"),) + p, x, 1), state.params)
  replace = {"params": params}
  if getattr(state, "model_state", None) is not None:
    replace["model_state"] = jax.tree_util.tree_map_with_path(
        lambda p, x: pick((jax.tree_util.DictKey("model_state"),) + p, x, 2),
        state.model_state)
  state = state.replace(**replace)
  if getattr(state, "ema_params", None) is not None:
    state = state.replace(ema_params=params)
  if getattr(state, "ema_model_state", None) is not None:
    state = state.replace(ema_model_state=state.model_state)
  return state, copied, skipped


def _load_pretrained(state, init_from: str):
  """Fills the state from every source of `init_from` (see `parse_init_from`)."""
  for subtree, path in parse_init_from(init_from):
    state, copied, skipped = _merge_pretrained(state, checkpoint.load_params(path), subtree)
    where = "/".join(subtree) or "all parameters"
    logging.info("init_from %s -> %s: %d arrays loaded, %d left at init%s%s", path, where,
                 copied, len(skipped), ": " if skipped else "", ", ".join(skipped[:10]))
    if not copied:
      raise ValueError(f"--config.init_from='{init_from}': '{path}' matched no parameter "
                       f"of {where}")
  return state


class EvaluationError(ValueError):
  """An evaluator failed at the end of the run; the other evaluators' results, this
  error and the checkpoint are kept."""


def _build_evaluators(config, task, to_device):
  evaluators = {}
  for name, eval_config in config.evals.items():
    module = importlib.import_module(f"zoo.evaluators.{eval_config.type}")
    evaluators[name] = module.Evaluator(
        eval_config, name=name, config=config, predict_fn=task.predict_fn,
        to_device=to_device, process_index=jax.process_index(),
        process_count=jax.process_count())
  return evaluators


def _check_before_training(train_source, evaluators):
  """Stops the run before it trains if a split it will read has a damaged file (the
  file is named) or an evaluator's precondition fails (its `check()`, where it has one:
  e.g. both classes present, from the labels alone)."""
  train_source.check()
  for evaluator in evaluators.values():
    if hasattr(evaluator, "check"):
      evaluator.check()


def _run_evaluators(evaluators, state, workdir):
  """(results, failures): an evaluator that fails does not stop the others; its error
  goes to `failures` (name -> 'Type: message')."""
  results, failures = {}, {}
  for name, evaluator in evaluators.items():
    try:
      metrics = evaluator.run(state, workdir)
    except Exception as e:  # pylint: disable=broad-except  # the run's other results count
      failures[name] = f"{type(e).__name__}: {e}"
      logging.error("evaluation '%s' failed: %s", name, failures[name])
      continue
    for key, value in metrics.items():
      results[f"{name}/{key}"] = value
  return results, failures


def _finished_results(workdir, ckpt, total_steps):
  """The results of a run that already reached `total_steps` (its results.json is of that
  step and so is its newest checkpoint), marked `already_finished`; else None. Re-running a
  finished run only reports them: evaluating again would log the last step twice."""
  if not total_steps or ckpt.latest_step() != total_steps:
    return None
  try:
    with open(os.path.join(workdir, "results.json")) as f:
      results = json.load(f)
  except (OSError, ValueError):
    return None
  return {**results, "already_finished": True} if results.get("step") == total_steps else None


def _train_rows(config, task_module, num_devices: int) -> int:
  """Rows of a global training batch: `config.batch_size`, or, where that does not split
  evenly over the devices and the task's loss averages over the real rows
  (`Task.MASKED_BATCHES`: no batch statistics see the padding), the next multiple of the
  device count, the last rows padding (the same array on any number of processes). Any
  other task refuses such a batch, naming the nearest sizes that work."""
  size = config.batch_size
  rows = -(-size // num_devices) * num_devices
  if rows == size or getattr(task_module.Task, "MASKED_BATCHES", False):
    return rows
  sizes = " or ".join(str(s) for s in (size // num_devices * num_devices, rows) if s)
  raise ValueError(f"--config.batch_size={size} does not split evenly over the {num_devices} "
                   f"devices of the mesh and task '{config.task}' does not train on padded "
                   f"batches; use {sizes}")


class Setup:
  """What a run is built from, derived from the config: the mesh and shardings, the data,
  the derived step counts, the task and its (abstract) state. Shared with benchmarks.step
  and benchmarks.keras_step."""

  def __init__(self, config):
    self.config = config
    self.devices = jax.devices()
    mesh = Mesh(np.asarray(self.devices), ("data",))
    self.replicated = NamedSharding(mesh, P())
    self.data_sharding = NamedSharding(mesh, P("data"))
    try:  # the XLA:CPU convolution library, for every jit of the run
      self.compiler_options = conv.compiler_options(config.get("cpu_convolutions"))
    except ValueError as e:
      raise ValueError(f"--config.cpu_convolutions: {e}") from None
    self.process_count = jax.process_count()
    self.data_module = pipeline.data_module(config.data)
    self.train_source = pipeline.open_source(config.data, config.data.train_split)
    self.steps_per_epoch = max(1, len(self.train_source) // config.batch_size)
    self.total_steps = (config.total_steps if config.total_steps is not None
                        else int(round(config.num_epochs * self.steps_per_epoch)))
    task_module = importlib.import_module(f"zoo.tasks.{config.task}")
    self.batch_rows = _train_rows(config, task_module, len(self.devices))
    self.task = task_module.Task(config, data=self.data_module,
                                 steps_per_epoch=self.steps_per_epoch,
                                 total_steps=self.total_steps)
    self.init_rng, self.train_rng = jax.random.split(jax.random.key(config.seed))
    self.abstract_state = jax.eval_shape(self.task.init, self.init_rng)
    self.state_sharding = jax.tree.map(lambda _: self.replicated, self.abstract_state)

  def to_device(self, batch):
    """Per-process numpy batch -> global arrays sharded along `data`."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(self.data_sharding, np.asarray(x)),
        batch)

  def train_iterator(self):
    return pipeline.train_iterator(
        self.config.data, self.train_source, seed=self.config.seed,
        local_batch_size=self.batch_rows // self.process_count,
        global_batch_size=self.config.batch_size,
        process_index=jax.process_index(), process_count=self.process_count)

  def init_state(self):
    return jax.jit(self.task.init, out_shardings=self.state_sharding,
                   compiler_options=self.compiler_options)(self.init_rng)

  def jit_train_step(self, traces=None):
    """`step(state, batch, rng) -> (state, metrics)`, jitted over the mesh, donating state."""
    def step_fn(state, batch, rng):
      if traces is not None:
        traces.append(1)  # runs only while tracing: counts compilations
      return self.task.train_step(state, batch, jax.random.fold_in(rng, state.step))

    return jax.jit(step_fn, in_shardings=(self.state_sharding, self.data_sharding,
                                          self.replicated),
                   out_shardings=(self.state_sharding, self.replicated), donate_argnums=(0,),
                   compiler_options=self.compiler_options)


def _close_all(*closers):
  """Calls every closer. If the run is already failing, its own error is the one reported and
  theirs are logged (a full disk must not hide behind a failed close); otherwise the first
  error is raised once all have run."""
  failing = sys.exc_info()[1] is not None
  first = None
  for close in filter(None, closers):
    try:
      close()
    except Exception as e:  # pylint: disable=broad-except
      if failing or first:
        logging.warning("while closing the run: %s: %s", type(e).__name__, e)
      first = first or e
  if first and not failing:
    raise first


def run(config, workdir: str, *, restart: bool = False) -> dict:
  """Trains (or, with total_steps=0, only evaluates) `config` in `workdir`.

  Returns the final results (also written to `workdir/results.json`); returns
  {'preempted': step} after a SIGTERM, having saved a checkpoint.
  """
  start_time = time.time()
  preemption = _Preemption()  # first: a SIGTERM during start-up also saves and exits 0
  is_main = jax.process_index() == 0
  lock = workdir_lib.claim(workdir, config, restart=restart) if is_main else None
  if is_main:
    with open(os.path.join(workdir, "config.json"), "w") as f:
      f.write(config.to_json_best_effort(indent=2, sort_keys=True))

  x = Setup(config)
  devices, data_module, train_source = x.devices, x.data_module, x.train_source
  total_steps, train_rng = x.total_steps, x.train_rng
  logging.info("data: %s%s; %d train records, %d steps/epoch, %d steps",
               data_module.DESCRIPTION,
               " [STAND-IN DATA]" if pipeline.is_stand_in(data_module, config.data) else "",
               len(train_source), x.steps_per_epoch, total_steps)
  evaluators = _build_evaluators(config, x.task, x.to_device)
  _check_before_training(train_source, evaluators)  # before anything compiles or trains
  ckpt = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
  finished = _finished_results(workdir, ckpt, total_steps)
  if finished is not None or (total_steps == 0 and not config.init_from
                              and ckpt.latest_step() is None):
    preemption.restore()
    _close_all(ckpt.close, lock and lock.close)
    if finished is None:  # e.g. --restart archived the only checkpoints
      raise ValueError(f"--config.total_steps=0 only evaluates, but {ckpt.directory} holds no "
                       "checkpoint; name the weights with --config.init_from=PATH")
    logging.info("%s: the run had already finished at step %d; reporting its results",
                 workdir, total_steps)
    return finished
  best_metric, best_mode = config_lib.parse_keep_best(config.get("keep_best") or "")
  best = checkpoint.BestCheckpoint(workdir, best_metric, best_mode) if best_metric else None
  train_iter = x.train_iterator()

  target = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                        x.abstract_state, x.state_sharding)
  restored = ckpt.restore_latest(target)
  if restored is not None:
    start_step, state, data_state = restored
    train_iter.set_state(data_state)
    logging.info("resumed from the checkpoint of step %d in %s", start_step, ckpt.directory)
  else:
    start_step = 0
    state = x.init_state()
    if config.init_from:
      state = _load_pretrained(state, config.init_from)

  traces = []
  train_step = x.jit_train_step(traces)
  writer = MetricWriter(workdir, enabled=is_main, resume_step=start_step)
  batches = _prefetch_to_device(train_iter, x.to_device, config.data.prefetch_to_device)
  progress = tqdm.tqdm(total=total_steps, initial=start_step, disable=not is_main,
                       desc="train", unit="step", mininterval=2.0)
  pending = []  # (step, device metrics) not yet checked on the host
  data_state, step, last_log = None, start_step, (time.time(), start_step)
  timed_seconds, timed_steps, first_step_s = 0.0, 0, None
  compiled_from, cache_counts = None, compilation_cache.counts()

  def flush():
    """Fetches pending metrics, stops on a non-finite loss, logs the newest."""
    nonlocal pending, last_log, timed_seconds, timed_steps
    if not pending:
      return
    fetched = jax.device_get(pending)
    pending = []
    for s, m in fetched:  # loss, gradient norm...: any non-finite value means bad parameters
      bad = [f"{k}={float(v)}" for k, v in m.items() if not np.all(np.isfinite(v))]
      if bad:
        raise NonFiniteLossError(
            f"non-finite {', '.join(bad)} at step {s}; stopped. The last good checkpoint "
            f"(step {ckpt.latest_step()}) in {ckpt.directory} is kept.")
    s, m = fetched[-1]
    now = time.time()
    seconds, steps = now - last_log[0], s - last_log[1]
    timed_seconds, timed_steps = timed_seconds + seconds, timed_steps + steps
    record = {f"train/{k}": float(v) for k, v in m.items()}
    record["train/bad_records"] = train_source.num_bad
    if steps:  # none when only the (compiling) first step is pending
      rate = steps / max(seconds, 1e-9)
      record.update({"steps_per_s": rate,
                     "examples_per_s_per_device": rate * config.batch_size / len(devices)})
      losses = {k[6:]: f"{record[k]:.4f}" for k in ("train/loss", "train/d_loss", "train/g_loss")
                if k in record}  # a GAN has two losses
      progress.set_postfix(**losses, steps_s=f"{rate:.2f}",
                           ex_s_dev=f"{record['examples_per_s_per_device']:.1f}")
    writer.write(s, record)
    last_log = (now, s)

  try:
    while step < total_steps:
      data_state, batch = next(batches)
      state, metrics = train_step(state, batch, train_rng)
      step += 1
      progress.update(1)
      pending.append((step, metrics))
      if first_step_s is None:  # compilation: kept out of the throughput figures
        jax.block_until_ready(metrics)
        first_step_s = time.time() - last_log[0]
        last_log = (time.time(), step)
        compiled_from = compilation_cache.describe_since(cache_counts)
        logging.info("first step %.1f s: the train step %s", first_step_s, {
            "cache": "was read from the persistent compilation cache",
            "compiled": "was compiled (and written to the persistent compilation cache)",
            None: "was compiled (persistent compilation cache off)"}[compiled_from])
      save = step % config.checkpoint_every_steps == 0 or step == total_steps
      evaluate = config.eval_every_steps and step % config.eval_every_steps == 0
      preempted = preemption.reached(step)
      if step % config.log_every_steps == 0 or save or evaluate or preempted:
        flush()
      if save or preempted:
        ckpt.save(step, state, data_state)
      if preempted:
        ckpt.wait()
        logging.warning("SIGTERM: saved step %d in %s; exiting", step, ckpt.directory)
        return {"preempted": step}
      if evaluate and step < total_steps:  # a failure is logged; training goes on
        results, _ = _run_evaluators(evaluators, state, workdir)
        writer.write(step, results)
        if best:
          best.update(step, state, results)
        last_log = (time.time(), step)  # evaluation time is not training time
    flush()
    results, failures = _run_evaluators(evaluators, state, workdir)
    writer.write(step, results)
    if best:
      best.update(step, state, results)
  finally:
    progress.close()
    preemption.restore()
    try:
      ckpt.wait()  # a save that failed is the run's error
    finally:
      _close_all(ckpt.close, best and best.close, writer.close, lock and lock.close)

  results.update({
      "experiment": config.experiment,
      "data": {"name": config.data.name, "description": data_module.DESCRIPTION,
               "stand_in": pipeline.is_stand_in(data_module, config.data),
               "bad_train_records": train_source.num_bad,
               "bad_train_record_examples": train_source.examples()},
      "step": step, "devices": len(devices), "processes": x.process_count,
      "train_steps_this_run": step - start_step,
      "first_step_s": first_step_s,  # includes compilation
      "train_step_compiled_from": compiled_from,  # 'cache', 'compiled', None (cache off)
      "train_steps_per_s": timed_steps / timed_seconds if timed_seconds else None,
      "train_step_compilations": len(traces),
      "wall_time_s": time.time() - start_time,
  })
  if hasattr(data_module, "trained_classes"):  # which classes' labels trained each part
    results["data"]["trained_classes"] = data_module.trained_classes(config)
  if failures:
    results["failed_evaluations"] = failures
  path = os.path.join(workdir, "results.json")
  if best:
    results["best_checkpoint"] = {"metric": best.metric, "mode": best.mode, "value": best.best,
                                  "step": best.best_step, "directory": best.directory}
  if is_main:
    with open(path, "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
  if failures:
    raise EvaluationError(
        f"evaluation {', '.join(repr(n) for n in failures)} failed at step {step}: "
        + "; ".join(failures.values()) + f". The other results and this error are in "
        f"{path}; the checkpoint is kept, so the same command (with the fix) evaluates it "
        "again without training")
  return results
