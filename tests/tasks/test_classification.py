"""The classification task: auxiliary losses, input normalisations, multi-crop prediction."""
import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _classification, dr_inception_v3
from zoo.tasks import classification, optimizers


class Toy(nn.Module):
  """The fields `classification.build_model` gives a network."""
  num_classes: int
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32
  conv_matmul_grads: object = None


class ToyAux(Toy):
  """Linear classifier with one auxiliary head, returned only in training."""

  @nn.compact
  def __call__(self, x, train=False):
    x = x.reshape((x.shape[0], -1))
    logits = nn.Dense(self.num_classes)(x)
    return (logits, (nn.Dense(self.num_classes, name="aux")(x),)) if train else logits


class Data:
  NUM_CLASSES = 10


def make_task(monkeypatch, **overrides):
  monkeypatch.setitem(sys.modules, "zoo.models.toy_aux", types.SimpleNamespace(Model=ToyAux))
  config = _classification.base_config(name="toy_aux")
  config.data.image_size = 4
  config.optimizer.weight_decay = 0.0
  config.update(overrides)
  return classification.Task(config, data=Data, steps_per_epoch=10, total_steps=10)


def batch(n=8):
  rng = np.random.default_rng(0)
  return {"image": jnp.asarray(rng.integers(0, 256, (n, 4, 4, 3)), jnp.uint8),
          "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32)}


@pytest.mark.parametrize("weight", [0.0, 0.4])
def test_auxiliary_loss_is_added_with_its_weight(monkeypatch, weight):
  task = make_task(monkeypatch, aux_loss_weight=weight, schedule=dict(
      name="constant", base_lr=1.0, warmup_epochs=0.0, decay_epochs=(), decay_factor=1.0))
  state = task.init(jax.random.key(0))
  new_state, metrics = task.train_step(state, batch(), jax.random.key(1))
  assert float(metrics["total_loss"]) == pytest.approx(
      float(metrics["loss"]) + weight * float(metrics["aux_loss_0"]), rel=1e-6)
  # SGD with lr 1, momentum 0.9 on the first step: the update is minus the gradient, and the
  # auxiliary head gets gradient only when its loss counts.
  aux_moved = np.abs(new_state.params["aux"]["kernel"] - state.params["aux"]["kernel"]).max()
  assert (aux_moved > 0) == (weight > 0)


def test_input_normalisations():
  images = jnp.asarray([[[0, 128, 255]]], jnp.uint8)
  np.testing.assert_allclose(classification.normalize(images, jnp.float32, "inception"),
                             [[[-1.0, 128 / 127.5 - 1, 1.0]]], atol=1e-6)
  np.testing.assert_allclose(classification.normalize(images, jnp.float32, "caffe"),
                             [[[255 - 103.939, 128 - 116.779, 0 - 123.68]]], rtol=1e-5)
  with pytest.raises(ValueError, match="input_normalization='bgr'"):
    classification.normalize(images, jnp.float32, "bgr")


def test_multi_crop_prediction_averages_the_crops_distributions(monkeypatch):
  task = make_task(monkeypatch)
  state = task.init(jax.random.key(0))
  b = batch(4)
  single = jax.nn.softmax(task.predict_fn(state, b)["logits"])
  other = {"image": b["image"][:, ::-1]}  # a second "crop" of each example
  two = {"image": jnp.stack([b["image"], other["image"]], axis=1)}
  averaged = jax.nn.softmax(task.predict_fn(state, two)["logits"])
  expected = (single + jax.nn.softmax(task.predict_fn(state, other)["logits"])) / 2
  np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-7)


class ToyBN(Toy):
  """Dense, batch norm, dense: a network with batch statistics."""

  @nn.compact
  def __call__(self, x, train=False):
    x = nn.Dense(6)(x.reshape((x.shape[0], -1)))
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    return nn.Dense(self.num_classes)(nn.relu(x))


def test_averaged_weights_after_the_dr_default_are_trained_ones(monkeypatch):
  """After the DR default's 4,110 steps the starting weights' share of the evaluated
  (averaged) weights is below 1e-3, from the schedule and on a run of the task's step
  (a constant 0.9999 leaves 0.9999^4110 = 0.66); batch statistics are averaged alike."""
  dr = dr_inception_v3.get_config()
  steps_per_epoch = 35_126 // dr.batch_size  # EyePACS' train split, as launch.train derives it
  steps = int(round(dr.num_epochs * steps_per_epoch))
  assert (steps_per_epoch, steps, dr.ema_decay) == (137, 4110, 0.9999)
  start_share = np.prod(np.asarray(optimizers.ema_decay_at(dr.ema_decay, np.arange(steps)),
                                   np.float64))
  assert start_share < 1e-3

  monkeypatch.setitem(sys.modules, "zoo.models.toy_bn", types.SimpleNamespace(Model=ToyBN))
  config = _classification.base_config(name="toy_bn")
  config.data.image_size = 4
  config.ema_decay = dr.ema_decay
  task = classification.Task(config, data=Data, steps_per_epoch=steps_per_epoch,
                             total_steps=steps)
  state = task.init(jax.random.key(0))

  # Two runs, the second with 1 added to the average's starting value: the weights
  # trained are the same, so the averages differ by exactly the start's share.
  run = jax.jit(lambda s: jax.lax.scan(lambda s, n: (task.train_step(
      s, batch(), jax.random.fold_in(jax.random.key(1), n))[0], None), s, jnp.arange(steps))[0])
  final = run(state)
  shifted = run(state.replace(ema_params=jax.tree.map(lambda x: x + 1, state.ema_params),
                              ema_model_state=jax.tree.map(lambda x: x + 1,
                                                           state.ema_model_state)))
  for name in ("ema_params", "ema_model_state"):
    share = jax.tree.map(lambda a, b: np.asarray(b, np.float64) - np.asarray(a),
                         getattr(final, name), getattr(shifted, name))
    for x in jax.tree.leaves(share):
      np.testing.assert_allclose(x, start_share, atol=1e-5, err_msg=name)
  assert max(np.abs(x - y).max() for x, y in zip(jax.tree.leaves(final.params), jax.tree.leaves(
      shifted.params))) == 0
  # Evaluation reads the averaged weights with the averaged statistics.
  b = batch(4)
  variables = {"params": final.ema_params, **final.ema_model_state}
  np.testing.assert_allclose(task.predict_fn(final, b)["logits"], task.model.apply(
      variables, classification.normalize(b["image"], jnp.float32, "imagenet")), rtol=1e-5)
