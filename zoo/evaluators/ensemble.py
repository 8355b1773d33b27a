"""Ensembles for evaluators: this run's state plus the weights of other checkpoints of the
same network (`ensemble=DIR1,DIR2,...` in an entry of `config.evals`), whose predicted
distributions are averaged (Krizhevsky et al. 2012; Gulshan et al. 2016 averaged 10)."""
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from zoo import checkpoints


class Ensemble:
  """`states(state)` -> [state, member states...]; `logits(states, batch)` (traceable) ->
  the log of the mean predicted distribution (the state's own logits when alone)."""

  def __init__(self, paths, predict_fn):
    self.paths, self.predict_fn = tuple(paths), predict_fn
    self.members = [checkpoints.load_params(path) for path in self.paths]
    if self.members:
      logging.info("evaluating an ensemble of this run and %s", ", ".join(self.paths))

  def states(self, state):
    return [state] + [self._member_state(state, m, p) for m, p in zip(self.members, self.paths)]

  def logits(self, states, batch):
    outputs = [self.predict_fn(s, batch)["logits"].astype(jnp.float32) for s in states]
    if len(outputs) == 1:
      return outputs[0]
    log_probs = jnp.stack([jax.nn.log_softmax(z) for z in outputs])
    return jax.nn.logsumexp(log_probs, axis=0) - jnp.log(len(outputs))

  @staticmethod
  def _member_state(state, member, path):
    """`state` with a member's weights, placed like `state`'s arrays."""
    def put(ref, value):
      return jax.device_put(np.asarray(value, ref.dtype), ref.sharding)

    try:
      params = jax.tree.map(put, state.params, member["params"])
      model_state = jax.tree.map(put, state.model_state, member.get("model_state") or {})
      ema = ema_state = None
      if state.ema_params is not None and member.get("ema_params") is not None:
        ema = jax.tree.map(put, state.ema_params, member["ema_params"])
        # A member saved before batch-norm statistics were averaged: its last ones.
        ema_state = jax.tree.map(put, state.ema_model_state, member.get("ema_model_state")
                                 or member.get("model_state") or {})
    except (KeyError, ValueError, TypeError) as e:
      raise ValueError(f"ensemble member '{path}' does not fit this network "
                       f"({type(e).__name__}: {e})") from None
    extra = {"ema_model_state": ema_state} if hasattr(state, "ema_model_state") else {}
    return state.replace(params=params, model_state=model_state, ema_params=ema, **extra)
