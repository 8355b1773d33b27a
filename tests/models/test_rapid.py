"""The RAPID column at the size the relative-aesthetics paper tabulates (zoo/models/rapid.py)."""
import math

import jax
import jax.numpy as jnp

from zoo.models import rapid


def _count(tree):
  return sum(math.prod(x.shape) for x in jax.tree.leaves(tree))


def test_column_parameters_as_derived():
  column = rapid.Column()
  variables = jax.eval_shape(lambda x: column.init(jax.random.key(0), x),
                             jnp.zeros((1, 230, 230, 3)))
  params = variables["params"]
  # 230 + 2 * 2 -> conv1 11x11/2: 112 -> pool 56 -> conv2 5x5 pad 1: 54 -> pool 27 -> conv3: 27
  # -> conv4 valid: 25, so fc1 sees 25 * 25 * 64 = 40,000 features.
  assert params["fc1"]["kernel"].shape == (40_000, 1000)
  expected = {"conv1": 11 * 11 * 3 * 64 + 64, "conv2": 5 * 5 * 64 * 64 + 64,
              "conv3": 3 * 3 * 64 * 64 + 64, "conv4": 3 * 3 * 64 * 64 + 64,
              "fc1": 40_000 * 1000 + 1000, "fc2": 1000 * 256 + 256}
  assert {k: _count(v) for k, v in params.items()} == expected
  assert _count(params) == 40_456_872


def test_channel_and_heads():
  image = jnp.zeros((2, 230, 230, 3))
  relative = rapid.Model(head="relative")
  variables = jax.eval_shape(lambda x: relative.init(jax.random.key(0), x, x), image)
  assert _count(variables) == 2 * 40_456_872 + 512  # two columns and f (no bias)
  c = jax.eval_shape(lambda v, x: relative.apply(v, x, x, method=relative.channel), variables,
                     image)
  assert c.shape == (2, 512)
  binary = rapid.Model(head="binary", num_classes=2)
  variables = jax.eval_shape(lambda x: binary.init(jax.random.key(0), x, x), image)
  assert _count(variables) == 2 * 40_456_872 + 512 * 2 + 2
