"""zoo.models.layers: max-pooling with its own gradient equals XLA's reduce-window
max-pool and its select-and-scatter gradient (first maximum of a window wins ties)."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.models import layers


@pytest.mark.parametrize("shape,window,strides,padding", [
    ((2, 9, 9, 3), (3, 3), (2, 2), "VALID"),           # Inception-v3
    ((2, 8, 8, 3), (3, 3), (2, 2), ((1, 1), (1, 1))),  # ResNet-50
    ((2, 7, 10, 3), (3, 3), (1, 1), ((1, 1), (1, 1))),  # GoogLeNet's branch pool
    ((2, 13, 13, 4), (3, 3), (2, 2), "CEIL"),          # VGG-F, GoogLeNet (Caffe)
    ((2, 8, 7, 3), (3, 3), (2, 2), "SAME"),
    ((2, 12, 11, 4), (2, 2), (2, 2), "VALID"),
    ((2, 5, 5, 2), (5, 5), (3, 3), "VALID"),
])
def test_max_pool_and_gradient_match_xla(shape, window, strides, padding):
  rng = np.random.default_rng(0)
  x = jnp.asarray(np.round(rng.standard_normal(shape) * 2) / 2, jnp.float32)  # many ties
  pool = layers.MaxPool(window, strides, padding)
  pads = layers._padding(padding, x, window, strides)
  want_y = nn.max_pool(x, window, strides, padding=pads)
  w = jnp.asarray(rng.standard_normal(want_y.shape), jnp.float32)
  got_y, got_dx = jax.value_and_grad(lambda a: jnp.sum(pool.apply({}, a) * w))(x)
  want_dx = jax.grad(lambda a: jnp.sum(nn.max_pool(a, window, strides, padding=pads) * w))(x)
  np.testing.assert_array_equal(pool.apply({}, x), want_y)
  np.testing.assert_allclose(got_dx, want_dx, atol=1e-6)
  assert got_y.dtype == want_y.dtype


def test_max_pool_bfloat16_under_jit():
  x = jnp.asarray(np.random.default_rng(1).standard_normal((2, 9, 9, 4)), jnp.bfloat16)
  f = lambda pool: jax.jit(jax.grad(lambda a: jnp.sum(pool(a).astype(jnp.float32) ** 2)))
  got = f(lambda a: layers.max_pool(a, (3, 3), (2, 2)))(x)
  want = f(lambda a: nn.max_pool(a, (3, 3), (2, 2)))(x)
  assert got.dtype == jnp.bfloat16
  np.testing.assert_array_equal(got, want)
