"""The classification task: auxiliary losses, input normalisations, multi-crop prediction."""
import sys
import types

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _classification
from zoo.tasks import classification


class ToyAux(nn.Module):
  """Linear classifier with one auxiliary head, returned only in training."""
  num_classes: int
  dtype: object = jnp.float32
  param_dtype: object = jnp.float32
  conv_matmul_grads: object = None

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
