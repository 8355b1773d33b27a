"""Inception-v3: the published parameter counts, the grid sizes at 299, the auxiliary
head (only when training, absent without `aux_logits`), small inputs."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.models import inception_v3


def count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def abstract_variables(model, size=299):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))


def random_variables(model, x, seed=0):
  """Variables of `model` as `init` shapes them, filled from numpy: eager `init` compiles
  every initializer separately (~17 s for this network on a CPU)."""
  rng = np.random.default_rng(seed)

  def fill(path, leaf):
    name = jax.tree_util.keystr(path[-1:])
    if "var" in name:
      return jnp.asarray(rng.uniform(0.5, 1.5, leaf.shape), leaf.dtype)
    scale = np.sqrt(2.0 / np.prod(leaf.shape[:-1])) if "kernel" in name else 0.1
    return jnp.asarray(rng.normal(0.0, scale, leaf.shape), leaf.dtype)

  abstract = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  return jax.tree_util.tree_map_with_path(fill, abstract)


def test_parameter_count_matches_keras_inception_v3():
  # Keras Applications InceptionV3(weights=None).summary(): 23,851,784 parameters, of which
  # 23,817,352 trainable and 34,432 non-trainable (the BN moving means and variances).
  variables = abstract_variables(inception_v3.Model(aux_logits=False))
  assert count(variables["params"]) == 23_817_352
  assert count(variables["batch_stats"]) == 34_432
  assert "aux" not in variables["params"]
  assert variables["params"]["predictions"]["kernel"].shape == (2048, 1000)
  assert "scale" not in variables["params"]["conv0"]["bn"]  # Keras' BN(scale=False)


def test_parameter_count_with_the_auxiliary_head():
  # Aux head: 1x1 768->128 (98,304) + beta 128 + 5x5 128->768 (2,457,600) + beta 768
  # + fc 768*1000+1000 (769,000) = 3,325,800; total 27,143,152. Adding the 18,112 BN
  # scales gives torchvision's inception_v3 (aux_logits=True): 27,161,264.
  variables = abstract_variables(inception_v3.Model())
  assert count(variables["params"]["aux"]) == 3_325_800
  assert count(variables["params"]) == 27_143_152
  assert variables["params"]["aux"]["conv1"]["conv"]["kernel"].shape == (5, 5, 128, 768)


def test_grid_sizes_at_299():
  model = inception_v3.Model(num_classes=10, aux_logits=False)
  x = jnp.zeros((1, 299, 299, 3))

  def shapes(x):
    variables = model.init(jax.random.key(0), x)
    _, inter = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    return {k: v["__call__"][0] for k, v in inter["intermediates"].items() if k != "__call__"}

  out = {k: v.shape for k, v in jax.eval_shape(shapes, x).items()}
  assert out["conv4"] == (1, 71, 71, 192)
  assert out["mixed0"] == (1, 35, 35, 256) and out["mixed2"] == (1, 35, 35, 288)
  assert out["mixed3"] == (1, 17, 17, 768) and out["mixed7"] == (1, 17, 17, 768)
  assert out["mixed8"] == (1, 8, 8, 1280) and out["mixed10"] == (1, 8, 8, 2048)
  assert out["predictions"] == (1, 10)


def test_train_mode_returns_aux_logits_and_runs_at_128():
  model = inception_v3.Model(num_classes=7, conv_matmul_grads=False)
  x = jax.random.normal(jax.random.key(1), (2, 128, 128, 3))
  variables = random_variables(model, x)
  # At 128 the 17x17 grid is 6x6: pool 5x5/3 -> 1x1, so the 5x5 conv shrinks to 1x1.
  assert variables["params"]["aux"]["conv1"]["conv"]["kernel"].shape == (1, 1, 128, 768)
  logits = jax.jit(model.apply)(variables, x)  # one compilation beats op-by-op dispatch
  assert logits.shape == (2, 7) and logits.dtype == jnp.float32
  (train_logits, (aux,)), state = jax.jit(functools.partial(
      model.apply, train=True, mutable=["batch_stats"]))(
          variables, x, rngs={"dropout": jax.random.key(2)})
  assert train_logits.shape == aux.shape == (2, 7) and aux.dtype == jnp.float32
  assert np.all(np.isfinite(aux)) and not np.allclose(train_logits, logits)
  moved = jax.tree.map(lambda a, b: bool(np.any(a != b)), state["batch_stats"],
                       variables["batch_stats"])
  assert all(jax.tree.leaves(moved))  # every BN (aux included) updated its statistics


def test_without_aux_logits_train_mode_returns_logits_only():
  model = inception_v3.Model(num_classes=3, aux_logits=False, dropout_rate=0.0)
  x = jax.random.normal(jax.random.key(1), (1, 75, 75, 3))  # Keras' minimum input size
  variables = random_variables(model, x)
  out, _ = jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))(
      variables, x)
  assert out.shape == (1, 3)



def remat_pair(**kwargs):
  """Inception-v3 without and with `remat`."""
  kwargs = dict(num_classes=3, aux_logits=False, dropout_rate=0.0, **kwargs)
  return inception_v3.Model(**kwargs), inception_v3.Model(**kwargs, remat=True)


def grad_fn(model, x):
  """`(variables) -> gradient of a linear function of the logits in the parameters`."""
  def loss(params, variables):
    logits, _ = model.apply({**variables, "params": params}, x, train=True,
                            mutable=["batch_stats"])
    return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))
  return lambda variables: jax.grad(loss)(variables["params"], variables)


def test_remat_wraps_the_mixed_blocks_and_keeps_the_parameter_tree():
  plain, remat = remat_pair()
  x = jnp.zeros((2, 75, 75, 3))
  variables = abstract_variables(plain, 75)
  assert abstract_variables(remat, 75) == variables
  remats = lambda m: sum(e.primitive.name.startswith("remat")
                         for e in jax.make_jaxpr(grad_fn(m, x))(variables).eqns)
  assert remats(remat) == 11 and remats(plain) == 0  # mixed0-10


@pytest.mark.slow  # two compilations of the whole network's gradient, ~30 s
def test_remat_gives_the_same_gradients():
  # float64: with random weights and batch norm over 2 examples (1x1 grids at 75x75), this
  # gradient is so ill-conditioned that float32 round-off alone changes it by 100s of %;
  # in float64 remat and plain agree to ~1e-10.
  with jax.enable_x64(True):
    plain, remat = remat_pair(dtype=jnp.float64, param_dtype=jnp.float64,
                              conv_matmul_grads=False)
    x = jax.random.normal(jax.random.key(1), (2, 75, 75, 3), jnp.float64)
    variables = random_variables(plain, x)
    want, got = (jax.jit(grad_fn(m, x))(variables) for m in (plain, remat))
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      assert a.dtype == jnp.float64 and float(jnp.max(jnp.abs(a))) > 0
      np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-8 * float(jnp.max(jnp.abs(a))))
