"""VGG-F: shapes, the published parameter count, LRN against a direct formula."""
import jax
import jax.numpy as jnp
import numpy as np

from zoo.models import layers, vgg_f


def count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_parameter_count_matches_the_paper():
  # Chatfield et al. 2014, Table 1 (VGG-F, ~61 M): conv1 23,296 + conv2 409,856
  # + conv3-5 3 x 590,080 + fc6 (6*6*256 -> 4096) 37,752,832 + fc7 16,781,312
  # + fc8 4,097,000 = 60,834,536.
  variables = jax.eval_shape(lambda: vgg_f.Model().init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert count(variables["params"]) == 60_834_536
  assert variables["params"]["fc6"]["kernel"].shape == (9216, 4096)


def test_output_shape_and_dropout_only_in_training():
  model = vgg_f.Model(num_classes=7, fc_features=32)
  x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
  variables = model.init(jax.random.key(0), x)
  out = model.apply(variables, x)
  assert out.shape == (2, 7) and out.dtype == jnp.float32
  np.testing.assert_array_equal(out, model.apply(variables, x))
  a = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  b = model.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)})
  assert not np.allclose(a, b)


def test_local_response_norm_matches_the_formula():
  x = np.random.default_rng(0).normal(size=(1, 2, 2, 9)).astype(np.float32)
  expected = np.empty_like(x)
  for c in range(9):
    window = x[..., max(0, c - 2):c + 3]
    expected[..., c] = x[..., c] / (2.0 + 1e-4 / 5 * np.sum(window ** 2, -1)) ** 0.75
  np.testing.assert_allclose(vgg_f.local_response_norm(jnp.asarray(x)), expected, rtol=1e-6)
  # MatConvNet's window for an even N: k - floor((N-1)/2) .. k + ceil((N-1)/2); alpha as is
  expected = np.empty_like(x)
  for c in range(9):
    window = x[..., max(0, c - 1):c + 3]
    expected[..., c] = x[..., c] / (1.0 + 0.5 * np.sum(window ** 2, -1)) ** 0.6
  np.testing.assert_allclose(vgg_f.local_response_norm(jnp.asarray(x), (4, 1.0, 0.5, 0.6)),
                             expected, rtol=1e-6)


def test_ceil_mode_pooling_sizes():
  pool = layers.MaxPool((3, 3), (2, 2), padding="CEIL")
  assert pool.apply({}, jnp.zeros((1, 54, 54, 1))).shape == (1, 27, 27, 1)
  assert pool.apply({}, jnp.zeros((1, 13, 13, 1))).shape == (1, 6, 6, 1)
  x = -jnp.ones((1, 4, 4, 1))  # padding must never win the max
  assert float(pool.apply({}, x).max()) == -1.0


def test_explicit_pool_pads_as_matconvnet_writes_them():
  # imagenet-vgg-f.mat: [0 1 0 1] after conv1, 0 after conv2 and conv5; same sizes at 224
  model = vgg_f.Model(num_classes=3, fc_features=8,
                      pool_pads=((0, 1, 0, 1), (0, 0, 0, 0), (0, 0, 0, 0)))
  x = jnp.zeros((1, 224, 224, 3))
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  assert variables["params"]["fc6"]["kernel"].shape == (6 * 6 * 256, 8)
