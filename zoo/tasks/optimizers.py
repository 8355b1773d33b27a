"""Optimizers and learning-rate schedules from config, with steps derived at run time.

`config.optimizer`: name (sgd | rmsprop | adam), momentum, nesterov, weight_decay,
grad_clip_norm, and rmsprop's decay/eps. `config.schedule`: name (constant | step |
cosine | exponential), base_lr, warmup_epochs, decay_epochs, decay_factor. Epoch
figures become steps here, from the dataset size and batch size of the run.

`config.frozen`: parameter sub-trees ('/'-separated key paths, e.g. 'spatial_cnn' or
'fc8/kernel') that are not trained: tasks pass their parameters through `stop_frozen`
(no gradient is computed for them) and the optimizer keeps no state for them.
"""
import jax
import jax.numpy as jnp
import optax


def make_schedule(schedule_config, steps_per_epoch: int, total_steps: int):
  c = schedule_config
  warmup = int(round(c.warmup_epochs * steps_per_epoch))
  if c.name == "constant":
    main = optax.constant_schedule(c.base_lr)
  elif c.name == "step":  # multiply by decay_factor at each epoch in decay_epochs
    main = optax.piecewise_constant_schedule(
        c.base_lr, {max(1, int(e * steps_per_epoch) - warmup): c.decay_factor
                    for e in c.decay_epochs})
  elif c.name == "exponential":  # x decay_factor every decay_epochs[0] epochs (staircase)
    main = optax.exponential_decay(c.base_lr, max(1, int(c.decay_epochs[0] * steps_per_epoch)),
                                   c.decay_factor, staircase=True)
  elif c.name == "cosine":
    main = optax.cosine_decay_schedule(c.base_lr, max(1, total_steps - warmup))
  else:
    raise ValueError(f"unknown --config.schedule.name '{c.name}'")
  if not warmup:
    return main
  return optax.join_schedules(
      [optax.linear_schedule(0.0, c.base_lr, warmup), main], [warmup])


def _decay_mask(params):
  """Weight decay on kernels only: not on biases or batch-norm scales."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def frozen_mask(config, params):
  """True for the leaves of `params` under a sub-tree named in `config.frozen`."""
  prefixes = [tuple(filter(None, f.split("/"))) for f in config.get("frozen", ())]
  for prefix in prefixes:
    node = params
    for key in prefix:
      if not isinstance(node, dict) or key not in node:
        raise ValueError(f"--config.frozen: '{'/'.join(prefix)}' is not a parameter sub-tree; "
                         f"top level: {', '.join(map(str, params))}")
      node = node[key]

  def frozen(path, _):
    names = tuple(getattr(k, "key", getattr(k, "name", None)) for k in path)
    return any(names[:len(p)] == p for p in prefixes)

  return jax.tree_util.tree_map_with_path(frozen, params)


def stop_frozen(config, params):
  """`params` with the frozen leaves cut out of the gradient (XLA then skips their
  backward pass)."""
  if not config.get("frozen", ()):
    return params
  return jax.tree.map(lambda x, f: jax.lax.stop_gradient(x) if f else x,
                      params, frozen_mask(config, params))


def make_optimizer(config, steps_per_epoch: int, total_steps: int):
  """Returns (optax transformation, schedule). Frozen sub-trees (`config.frozen`) get
  no update and no optimizer state."""
  tx, schedule = _make_optimizer(config, steps_per_epoch, total_steps)
  if config.get("frozen", ()):
    tx = optax.multi_transform(
        {"train": tx, "frozen": optax.set_to_zero()},
        lambda params: jax.tree.map(lambda f: "frozen" if f else "train",
                                    frozen_mask(config, params)))
  return tx, schedule


def _make_optimizer(config, steps_per_epoch: int, total_steps: int):
  o = config.optimizer
  schedule = make_schedule(config.schedule, steps_per_epoch, total_steps)
  parts = []
  if o.grad_clip_norm:
    parts.append(optax.clip_by_global_norm(o.grad_clip_norm))
  if o.weight_decay:  # classic L2, added to the gradient before momentum
    parts.append(optax.add_decayed_weights(o.weight_decay, _decay_mask))
  if o.name == "sgd":
    parts.append(optax.sgd(schedule, momentum=o.momentum or None, nesterov=o.nesterov))
  elif o.name == "rmsprop":
    parts.append(optax.rmsprop(schedule, decay=o.rmsprop_decay, eps=o.rmsprop_eps,
                               momentum=o.momentum or None))
  elif o.name == "adam":
    parts.append(optax.adam(schedule, b1=o.adam_b1, b2=o.adam_b2))
  else:
    raise ValueError(f"unknown --config.optimizer.name '{o.name}'")
  return optax.chain(*parts), schedule


def ema_decay_at(decay: float, step):
  """The decay of update `step` (0 for the first): TensorFlow's `num_updates` warm-up,
  min(decay, (1 + step) / (10 + step)).

  A constant 0.9999 keeps 0.9999^4,110 = 66% of the starting weights after DR's 4,110
  steps. With the warm-up the start's share after N updates is prod (1 + n) / (10 + n) =
  1 / C(N + 9, 9) (3e-4 after 10 updates), and the average always spans roughly the
  last tenth of the run, or 1 / (1 - decay) steps once the run is long enough. A
  bias-corrected average (Adam's, dividing by 1 - decay^N) would also drop the start, but
  in a run shorter than 1 / (1 - decay) steps it weighs nearly every update alike, so the
  barely trained early weights (a random head when fine-tuning) would weigh as much as
  the last ones."""
  step = jnp.asarray(step, jnp.float32)
  return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def ema_update(ema, params, decay: float, step):
  """Exponential moving average of the weights (Polyak averaging), warmed up as in
  `ema_decay_at`; `step`: the updates before this one. Any pytree: the tasks average
  the batch-norm statistics the same way, so that the averaged weights are evaluated with
  statistics of their own (TF-slim averages its moving means and variances too)."""
  d = ema_decay_at(decay, step)
  return jax.tree.map(lambda e, p: (d * e + (1.0 - d) * p.astype(e.dtype)).astype(e.dtype),
                      ema, params)


def global_norm(tree):
  return jnp.sqrt(sum(jnp.sum(jnp.square(x.astype(jnp.float32))) for x in jax.tree.leaves(tree)))
