"""GoogLeNet: parameter counts against the paper's Table 1, shapes at 224, auxiliary heads."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.models import googlenet

# Szegedy et al. 2015, Table 1, "params" (K = 1,024 weights, biases not counted: the
# linear row is 1024 x 1000 = 1000K) and "ops" (M = 10^6 multiply-adds). The "conv2"
# row is the 1x1 reduce and the 3x3 together (depth 2).
TABLE_1 = {
    "conv1": (2.7, 34), "conv2": (112, 360),
    "inception_3a": (159, 128), "inception_3b": (380, 304),
    "inception_4a": (364, 73), "inception_4b": (437, 88), "inception_4c": (463, 100),
    "inception_4d": (580, 119), "inception_4e": (840, 170),
    "inception_5a": (1072, 54), "inception_5b": (1388, 71), "classifier": (1000, 1),
}
GRID = {"conv1": 112, "conv2": 56, "inception_3a": 28, "inception_3b": 28,
        "inception_4a": 14, "inception_4b": 14, "inception_4c": 14, "inception_4d": 14,
        "inception_4e": 14, "inception_5a": 7, "inception_5b": 7, "classifier": 1}
# Weights implied by the table's widths, e.g. 3a (input 192): 192*64 + 192*96 + 9*96*128
# + 192*16 + 25*16*32 + 192*32 = 163,328; conv1 7*7*3*64 = 9,408.
WEIGHTS = {
    "conv1": 9_408, "conv2": 114_688, "inception_3a": 163_328, "inception_3b": 388_096,
    "inception_4a": 375_552, "inception_4b": 448_512, "inception_4c": 509_440,
    "inception_4d": 604_672, "inception_4e": 867_328, "inception_5a": 1_042_432,
    "inception_5b": 1_442_816, "classifier": 1_024_000,
}


def count(tree, leaf=None):
  return sum(x.size for path, x in jax.tree_util.tree_leaves_with_path(tree)
             if leaf is None or path[-1].key == leaf)


def params_at_224(**kwargs):
  model = googlenet.Model(**kwargs)
  x = jnp.zeros((1, 224, 224, 3))
  return jax.eval_shape(lambda: model.init(jax.random.key(0), x))["params"]


def table_rows(params):
  rows = {name: tree for name, tree in params.items() if name in TABLE_1}
  rows["conv2"] = {"reduce": params["conv2_reduce"], "3x3": params["conv2"]}
  return rows


def test_parameter_counts():
  # 6,990,272 weights + 8,280 biases; each auxiliary head: 1x1 conv 128 (512 or 528
  # inputs), fc 4*4*128 -> 1024 (2,098,176), linear 1024 -> 1000 (1,025,000).
  params = params_at_224(aux_logits=False)
  assert count(params) == 6_998_552 and count(params, "kernel") == 6_990_272
  with_aux = params_at_224()
  assert count(with_aux["aux1"]) == 3_188_840 and count(with_aux["aux2"]) == 3_190_888
  assert count(with_aux) == 13_378_280
  assert with_aux["aux2"]["fc"]["kernel"].shape == (2048, 1024)


def test_layers_against_table_1():
  rows = table_rows(params_at_224(aux_logits=False))
  weights = {name: count(tree, "kernel") for name, tree in rows.items()}
  assert weights == WEIGHTS
  # The "params" column: conv2, 3a (159.5K), 3b, 4b and the classifier agree to within
  # 1K; the other rows differ from what the table's own widths give: conv1 9.2K (table
  # 2.7K), 4a 366.8K (364K), 4c 497.5K (463K), 4d 590.5K (580K), 4e 847K (840K), 5a
  # 1,018K (1,072K), 5b 1,409K (1,388K). The sums agree within 0.5%: 6,826.4K, 6,797.7K.
  in_k = {name: w / 1024 for name, w in weights.items()}
  agree = {name for name, k in in_k.items() if abs(k - TABLE_1[name][0]) <= 1}
  assert agree == {"conv2", "inception_3a", "inception_3b", "inception_4b", "classifier"}
  published_total = sum(p for p, _ in TABLE_1.values())
  assert round(published_total, 1) == 6797.7
  assert round(sum(in_k.values()) / 1000, 1) == round(published_total / 1000, 1) == 6.8
  assert abs(sum(in_k.values()) / published_total - 1) < 0.005
  # The "ops" column (weights x output positions) agrees to within 1M on every row but
  # conv1 (118M for 9,408 weights; the table's 34M is its 2.7K x 112^2) and 5a (51M).
  ops = {name: w * GRID[name] ** 2 / 1e6 for name, w in weights.items()}
  agree = {name for name, m in ops.items() if abs(m - TABLE_1[name][1]) < 1}
  assert agree == set(TABLE_1) - {"conv1", "inception_5a"}


def test_output_shapes_at_224():
  model = googlenet.Model()
  x = jnp.zeros((1, 224, 224, 3))

  def forward():
    variables = model.init(jax.random.key(0), x)
    return model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])

  logits, state = jax.eval_shape(forward)
  inter = state["intermediates"]
  assert inter["inception_3a"]["__call__"][0].shape == (1, 28, 28, 256)
  assert inter["inception_4a"]["__call__"][0].shape == (1, 14, 14, 512)
  assert inter["inception_4d"]["__call__"][0].shape == (1, 14, 14, 528)
  assert inter["inception_5b"]["__call__"][0].shape == (1, 7, 7, 1024)
  assert inter["aux1"]["AvgPool_0"]["__call__"][0].shape == (1, 4, 4, 512)
  assert logits.shape == (1, 1000) and logits.dtype == jnp.float32


def he_normal_like(shapes, seed=0):
  """Random weights of `init`'s shapes. (Compiling `model.init` itself takes ~12 s on a
  2-core CPU, its sixty-odd initialisers; this takes milliseconds.)"""
  rng = np.random.default_rng(seed)
  def fill(x):
    fan_in = np.prod(x.shape[:-1]) if x.ndim > 1 else 0
    return (rng.normal(size=x.shape) * np.sqrt(2 / fan_in) if fan_in else np.zeros(x.shape)
            ).astype(np.float32)
  return jax.tree.map(fill, shapes)


def test_training_returns_two_auxiliary_logits_at_64x64():
  model = googlenet.Model(num_classes=5)
  x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3))
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)  # eval mode builds the heads
  assert shapes["params"]["aux1"]["fc"]["kernel"].shape == (128, 1024)  # 4x4 grid -> 1x1
  variables = he_normal_like(shapes)
  apply = jax.jit(model.apply, static_argnames="train")
  out = apply(variables, x)
  assert out.shape == (2, 5) and out.dtype == jnp.float32
  logits, aux = apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
  assert logits.shape == (2, 5) and len(aux) == 2
  assert all(a.shape == (2, 5) and a.dtype == jnp.float32 for a in aux)
  assert np.all(np.isfinite(logits)) and not np.allclose(aux[0], aux[1])
  assert not np.allclose(logits, out)  # dropout is on in training


def test_without_auxiliary_heads():
  model = googlenet.Model(num_classes=3, aux_logits=False, lrn=False)
  x = jnp.zeros((1, 96, 96, 3))
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
  assert not any(name.startswith("aux") for name in variables["params"])
  out = jax.eval_shape(lambda v: model.apply(v, x, train=True, rngs={"dropout": jax.random.key(0)}),
                       variables)
  assert out.shape == (1, 3)


def test_batch_norm_switch_replaces_biases_with_batch_norm():
  model = googlenet.Model(num_classes=10, batch_norm=True)
  variables = jax.eval_shape(lambda: model.init(
      {"params": jax.random.key(0), "dropout": jax.random.key(1)}, jnp.zeros((1, 64, 64, 3)),
      train=True))
  branch = variables["params"]["inception_3a"]["branch3x3"]
  assert set(branch) == {"Conv_0", "Conv_1", "BatchNorm_0", "BatchNorm_1"}
  assert "bias" not in branch["Conv_0"] and branch["BatchNorm_1"]["scale"].shape == (128,)
  # 3 stem + 9 x 6 inception + 2 auxiliary convolutions, each followed by batch norm
  assert len(jax.tree.leaves(variables["batch_stats"])) == 2 * 59


def remat_pair(**kwargs):
  """GoogLeNet without and with `remat`."""
  kwargs = dict(num_classes=3, aux_logits=False, dropout_rate=0.0, **kwargs)
  return googlenet.Model(**kwargs), googlenet.Model(**kwargs, remat=True)


def grad_fn(model, x):
  """`(params) -> gradient of a linear function of the logits`."""
  def loss(params):
    logits = model.apply({"params": params}, x, train=True)
    return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))
  return jax.grad(loss)


def test_remat_wraps_the_inception_modules_and_keeps_the_parameter_tree():
  plain, remat = remat_pair()
  x = jnp.zeros((2, 64, 64, 3))
  shapes = jax.eval_shape(plain.init, jax.random.key(0), x)
  assert jax.eval_shape(remat.init, jax.random.key(0), x) == shapes
  remats = lambda m: sum(e.primitive.name.startswith("remat")
                         for e in jax.make_jaxpr(grad_fn(m, x))(shapes["params"]).eqns)
  assert remats(remat) == 9 and remats(plain) == 0  # inception 3a-5b


@pytest.mark.slow  # two compilations of the whole network's gradient, ~20 s
def test_remat_gives_the_same_gradients():
  with jax.enable_x64(True):  # so that round-off can neither hide a difference nor fake one
    plain, remat = remat_pair(dtype=jnp.float64, param_dtype=jnp.float64,
                              conv_matmul_grads=False)
    x = jax.random.normal(jax.random.key(1), (2, 64, 64, 3), jnp.float64)
    shapes = jax.eval_shape(plain.init, jax.random.key(0), x)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                          he_normal_like(shapes)["params"])
    want, got = (jax.jit(grad_fn(m, x))(params) for m in (plain, remat))
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      assert a.dtype == jnp.float64 and float(jnp.max(jnp.abs(a))) > 0
      np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(a))))
