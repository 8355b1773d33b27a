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
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from launch import checkpoint
from launch import workdir as workdir_lib
from launch.writers import MetricWriter
from zoo.data import pipeline
from zoo.models import conv


class NonFiniteLossError(RuntimeError):
  """A train metric (the loss, the gradient norm) became NaN or Inf; the last good
  checkpoint is kept."""


class _Preemption:
  """Turns SIGTERM into a flag the loop checks between steps."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, signum, frame):
    del signum, frame
    self.requested = True

  def restore(self):
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


def _merge_pretrained(state, pretrained: dict):
  """Copies `params` and `model_state` leaves of matching path and shape from a
  checkpoint (fine-tuning); returns (state, number copied, paths left at init)."""
  copied, skipped = 0, []

  def pick(path, leaf):
    nonlocal copied
    node = pretrained
    for key in path:
      name = getattr(key, "key", getattr(key, "name", None))
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
      lambda p, x: pick((jax.tree_util.DictKey("params"),) + p, x), state.params)
  model_state = jax.tree_util.tree_map_with_path(
      lambda p, x: pick((jax.tree_util.DictKey("model_state"),) + p, x), state.model_state)
  state = state.replace(params=params, model_state=model_state)
  if getattr(state, "ema_params", None) is not None:
    state = state.replace(ema_params=params)
  return state, copied, skipped


def _build_evaluators(config, task, to_device):
  evaluators = {}
  for name, eval_config in config.evals.items():
    module = importlib.import_module(f"zoo.evaluators.{eval_config.type}")
    evaluators[name] = module.Evaluator(
        eval_config, config=config, predict_fn=task.predict_fn, to_device=to_device,
        process_index=jax.process_index(), process_count=jax.process_count())
  return evaluators


def _run_evaluators(evaluators, state, workdir):
  results = {}
  for name, evaluator in evaluators.items():
    for key, value in evaluator.run(state, workdir).items():
      results[f"{name}/{key}"] = value
  return results


class Setup:
  """What a run is built from, derived from the config: the mesh and shardings, the data,
  the derived step counts, the task and its (abstract) state. Shared with launch.bench."""

  def __init__(self, config):
    self.config = config
    self.devices = jax.devices()
    mesh = Mesh(np.asarray(self.devices), ("data",))
    self.replicated = NamedSharding(mesh, P())
    self.data_sharding = NamedSharding(mesh, P("data"))
    for name in ("batch_size", "eval_batch_size"):
      if config[name] % len(self.devices):
        raise ValueError(f"--config.{name}={config[name]} is not divisible by the "
                         f"{len(self.devices)} devices of the mesh")
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
        local_batch_size=self.config.batch_size // self.process_count,
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
               data_module.DESCRIPTION, " [STAND-IN DATA]" if data_module.STAND_IN else "",
               len(train_source), x.steps_per_epoch, total_steps)
  ckpt = checkpoint.Checkpointer(workdir, keep=config.keep_checkpoints)
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
      state, copied, skipped = _merge_pretrained(state, checkpoint.load_params(config.init_from))
      logging.info("init_from %s: %d arrays loaded, %d left at init: %s",
                   config.init_from, copied, len(skipped), ", ".join(skipped[:10]))
      if not copied:
        raise ValueError(f"--config.init_from='{config.init_from}' matched no parameter")

  traces = []
  train_step = x.jit_train_step(traces)
  writer = MetricWriter(workdir, enabled=is_main, resume_step=start_step)
  evaluators = _build_evaluators(config, x.task, x.to_device)
  batches = _prefetch_to_device(train_iter, x.to_device, config.data.prefetch_to_device)
  progress = tqdm.tqdm(total=total_steps, initial=start_step, disable=not is_main,
                       desc="train", unit="step", mininterval=2.0)
  pending = []  # (step, device metrics) not yet checked on the host
  data_state, step, last_log = None, start_step, (time.time(), start_step)
  timed_seconds, timed_steps, first_step_s = 0.0, 0, None

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
      save = step % config.checkpoint_every_steps == 0 or step == total_steps
      evaluate = config.eval_every_steps and step % config.eval_every_steps == 0
      if step % config.log_every_steps == 0 or save or evaluate or preemption.requested:
        flush()
      if save or preemption.requested:
        ckpt.save(step, state, data_state)
      if preemption.requested:
        ckpt.wait()
        logging.warning("SIGTERM: saved step %d in %s; exiting", step, ckpt.directory)
        return {"preempted": step}
      if evaluate and step < total_steps:
        results = _run_evaluators(evaluators, state, workdir)
        writer.write(step, results)
        last_log = (time.time(), step)  # evaluation time is not training time
    flush()
    results = _run_evaluators(evaluators, state, workdir)
    writer.write(step, results)
  finally:
    progress.close()
    preemption.restore()
    try:
      ckpt.wait()  # a save that failed is the run's error
    finally:
      _close_all(ckpt.close, writer.close, lock and lock.close)

  results.update({
      "experiment": config.experiment,
      "data": {"name": config.data.name, "description": data_module.DESCRIPTION,
               "stand_in": bool(data_module.STAND_IN),
               "bad_train_records": train_source.num_bad,
               "bad_train_record_examples": train_source.examples()},
      "step": step, "devices": len(devices), "processes": x.process_count,
      "train_steps_this_run": step - start_step,
      "first_step_s": first_step_s,  # includes compilation
      "train_steps_per_s": timed_steps / timed_seconds if timed_seconds else None,
      "train_step_compilations": len(traces),
      "wall_time_s": time.time() - start_time,
  })
  if is_main:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2, sort_keys=True)
  return results
