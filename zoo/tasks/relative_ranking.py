"""Relative aesthetics (Gattupalli, Chandakkar and Li, ICPR 2016) and its binary baseline.

`config.model.head` picks the training, so both run through this one task:
  'relative': a Siamese pair of channels (`zoo.models.rapid`) with shared weights - the same
    parameters applied to both images of a pair, in one pass over the two stacked - gives
    C1 and C2; d(I1, I2) = f(C1 - C2); loss max(0, delta - y d) (`relative_hinge_loss`),
    y = +1 when I1 is the better image, delta = `config.margin`. Batches are pairs.
  'binary': the same channel with a softmax over (low, high) on single images, trained
    with cross-entropy (RAPID's setting, AVA's mean-rating threshold of 5). Batches are
    images.
A switch rather than a second task file, because the two differ only in the loss and the
records: the model, the state, the optimizer and above all the score are shared, so every
evaluator treats both networks alike. The score of an image (`predict_fn`) is f(C) for
the relative network and the log-odds log P(high) - log P(low) for the binary one; a pair
gets d = score(I1) - score(I2), which for the relative network is f(C1 - C2) itself (f is
linear), and is ranked by the sign of d.
"""
from typing import Any

import flax
import jax
import jax.numpy as jnp
import optax

from zoo.tasks import classification, optimizers


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  model_state: Any  # {}: the network has no batch statistics
  opt_state: Any
  ema_params: Any  # None when config.ema_decay == 0


def relative_hinge_loss(d, y, delta: float):
  """Per-pair max(0, delta - y d)."""
  return jnp.maximum(0.0, delta - y * d)


class Task:

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    del data  # two classes (low, high) whatever the data
    self.config = config
    self.head = config.model.head
    self.model = classification.build_model(config.model, 2)
    self.dtype = jnp.dtype(config.model.dtype)
    self.normalization = config.input_normalization
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def _inputs(self, images, locals_):
    return (classification.normalize(images, self.dtype, self.normalization),
            classification.normalize(locals_, self.dtype, self.normalization))

  def init(self, rng) -> TrainState:
    c = self.config.data
    image, local = self._inputs(jnp.zeros((1, c.image_size, c.image_size, 3), jnp.uint8),
                                jnp.zeros((1, c.local_size, c.local_size, 3), jnp.uint8))
    params = self.model.init({"params": rng, "dropout": rng}, image, local, train=True)["params"]
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state={},
                      opt_state=self.tx.init(params),
                      ema_params=params if self.config.ema_decay else None)

  def _channel(self, params, images, locals_, train, rng=None):
    image, local = self._inputs(images, locals_)
    rngs = {"dropout": rng} if train else {}
    return self.model.apply({"params": params}, image, local, train,
                            method=self.model.channel, rngs=rngs)

  def _pair_channels(self, params, batch, train, rng=None):
    """C1, C2: the two images of each pair through the same parameters, in one pass."""
    n = batch["image1"].shape[0]
    c = self._channel(params, jnp.concatenate([batch["image1"], batch["image2"]]),
                      jnp.concatenate([batch["local1"], batch["local2"]]), train, rng)
    return c[:n], c[n:]

  def _score(self, params, c):
    """Per-image score from C: f(C), or the log-odds of 'high' for the binary head."""
    out = self.model.apply({"params": params}, c, method=self.model.output)
    return out[:, 0] if self.head == "relative" else out[:, 1] - out[:, 0]

  def train_step(self, state: TrainState, batch, rng):
    def loss_fn(params):
      if self.head == "relative":
        c1, c2 = self._pair_channels(params, batch, True, rng)
        d = self.model.apply({"params": params}, c1, c2, method=self.model.difference)
        y = batch["label"]
        loss = relative_hinge_loss(d, y, self.config.margin).mean()
        return loss, {"loss": loss, "accuracy": jnp.mean((y * d > 0).astype(jnp.float32))}
      c = self._channel(params, batch["image"], batch["local"], True, rng)
      logits = self.model.apply({"params": params}, c, method=self.model.output)
      loss = classification.cross_entropy(logits, batch["label"], 2).mean()
      accuracy = jnp.mean((jnp.argmax(logits, -1) == batch["label"]).astype(jnp.float32))
      return loss, {"loss": loss, "accuracy": accuracy}

    (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema = state.ema_params
    if ema is not None:
      ema = optimizers.ema_update(ema, params, self.config.ema_decay, state.step)
    metrics.update(grad_norm=optimizers.global_norm(grads), learning_rate=self.schedule(state.step))
    return state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                         ema_params=ema), metrics

  def predict_fn(self, state: TrainState, batch):
    """Images: {'score' [N]}. Pairs: {'d', 'score1', 'score2'} with d = f(C1 - C2) for the
    relative head and score1 - score2 for the binary one."""
    params = state.ema_params if state.ema_params is not None else state.params
    if "image1" not in batch:
      return {"score": self._score(params, self._channel(params, batch["image"],
                                                         batch["local"], False))}
    c1, c2 = self._pair_channels(params, batch, False)
    s1, s2 = self._score(params, c1), self._score(params, c2)
    if self.head == "relative":
      d = self.model.apply({"params": params}, c1, c2, method=self.model.difference)
    else:
      d = s1 - s2
    return {"d": d, "score1": s1, "score2": s2}
