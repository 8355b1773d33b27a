"""zoo.models.conv: matmul gradients equal XLA's for every conv shape the zoo uses.

Each sweep case runs one jit that compares, against `jax.vjp` of
`lax.conv_general_dilated`: `conv2d`'s custom VJP (threshold lowered so that the matmul
paths run on these small maps) and the matmul input gradient for every stride, in
several chunks. Odd map sizes catch off-by-one errors.
"""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zoo.models import conv

DN = ("NHWC", "HWIO", "NHWC")

# (H, W, kernel, strides, padding, dilation)
CASES = [
    (13, 11, (1, 1), 1, "SAME", 1),
    (13, 11, (1, 1), 2, "VALID", 1),
    (14, 9, (1, 1), 4, "SAME", 1),
    (13, 11, (3, 3), 1, "SAME", 1),
    (13, 11, (3, 3), 1, ((1, 1), (1, 1)), 1),
    (9, 9, (3, 3), 1, "VALID", 1),
    (13, 11, (3, 3), 2, "SAME", 1),
    (12, 12, (3, 3), 2, "SAME", 1),
    (13, 11, (3, 3), 2, "VALID", 1),
    (8, 8, (3, 3), 2, ((1, 0), (1, 0)), 1),
    (13, 11, (3, 3), 1, "SAME", 2),
    (13, 11, (3, 3), 2, "SAME", 2),
    (14, 10, (3, 3), 4, "SAME", 1),
    (13, 11, (3, 3), (1, 2), ((0, 2), (1, 0)), (2, 1)),
    (13, 11, (3, 3), 1, ((-1, 1), (2, 0)), 1),  # negative padding crops
    (13, 11, (5, 5), 1, ((2, 2), (2, 2)), 1),
    (13, 11, (5, 5), 2, "SAME", 1),
    (12, 13, (5, 5), 1, "VALID", 2),
    (13, 11, (5, 5), 4, ((2, 2), (2, 2)), 2),
    (13, 11, (7, 7), 1, "SAME", 1),
    (15, 13, (7, 7), 2, ((3, 3), (3, 3)), 1),
    (17, 15, (7, 7), 2, "VALID", 1),
    (23, 19, (11, 11), 4, "VALID", 1),
    (27, 25, (11, 11), 4, ((2, 2), (2, 2)), 1),
    (13, 11, (1, 7), 1, "SAME", 1),
    (13, 11, (1, 7), 1, ((0, 0), (3, 3)), 1),
    (13, 11, (7, 1), 1, "SAME", 1),
    (13, 11, (7, 1), 2, "SAME", 1),
    (13, 11, (1, 3), 1, "SAME", 1),
    (13, 11, (1, 3), 2, "VALID", 1),
    (13, 11, (3, 1), 1, ((1, 1), (0, 0)), 1),
    (13, 11, (3, 1), (2, 1), "SAME", 2),
]


def _pair(v):
  return (v, v) if isinstance(v, int) else tuple(v)


def _normal(seed, shape):  # numpy, so that each new shape costs no compilation
  return np.random.default_rng(seed).standard_normal(shape, dtype=np.float32)


def _close(got, want, tol=1e-4):
  got, want = np.asarray(got, np.float32), np.asarray(want, np.float32)
  scale = float(np.max(np.abs(want), initial=0.0)) or 1.0
  np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


@pytest.fixture
def matmul_everywhere(monkeypatch):
  """Use the matmul paths even on tiny maps, in many small chunks."""
  monkeypatch.setattr(conv, "MIN_INPUT_GRAD_ROWS", 0)
  monkeypatch.setattr(conv, "CHUNK_BYTES", 1)


@pytest.mark.parametrize("h,w,kernel,strides,padding,dilation", CASES)
def test_gradients_match_xla(h, w, kernel, strides, padding, dilation, matmul_everywhere):
  strides, dilation = _pair(strides), _pair(dilation)
  x, kern = _normal(0, (4, h, w, 3)), _normal(1, kernel + (3, 5))
  pads = conv.resolve_padding(padding, (h, w), kernel, strides, dilation)
  xla = lambda a, b: lax.conv_general_dilated(a, b, strides, padding, rhs_dilation=dilation,
                                              dimension_numbers=DN)
  dy = _normal(2, jax.eval_shape(xla, x, kern).shape)

  @jax.jit
  def run(x, kern, dy):
    want_y, vjp = jax.vjp(xla, x, kern)
    want_dx, want_dk = vjp(dy)
    y, vjp = jax.vjp(lambda a, b: conv.conv2d(a, b, strides, padding, dilation), x, kern)
    return dict(y=(y, want_y), dx=(vjp(dy)[0], want_dx), dk=(vjp(dy)[1], want_dk),
                dx_matmul=(conv.input_grad(dy, kern, x.shape, strides, pads, dilation,
                                           method="matmul", images_per_chunk=1), want_dx))

  for name, (got, want) in run(x, kern, dy).items():
    assert got.shape == want.shape and got.dtype == want.dtype, name
    _close(got, want)


@pytest.mark.parametrize("shape,kernel,strides,cin,cout", [
    ((2, 112, 111), (3, 3), 2, 8, 6),  # matmul input grad + XLA filter grad
    ((2, 57, 56), (3, 3), 1, 8, 6),    # XLA's gradients
    ((2, 113, 112), (7, 7), 2, 3, 32),  # stem: matmul input grad
    ((2, 6, 6), (3, 3), 2, 8, 6),      # few positions: XLA's gradients
    ((2, 9, 9), (1, 1), 2, 8, 6),      # 1x1: matmuls
    ((2, 2, 2), (3, 3), 1, 8, 6),      # maps smaller than the kernel: im2col, JAX's grads
    ((2, 4, 4), (5, 5), 1, 4, 6),
    ((2, 1, 1), (3, 3), 1, 8, 6),
    ((2, 3, 1), (1, 3), 1, 8, 6),
    ((2, 3, 2), (3, 3), 2, 8, 6),
])
def test_default_dispatch_matches_xla(shape, kernel, strides, cin, cout):
  x, kern = _normal(0, shape + (cin,)), _normal(1, kernel + (cin, cout))
  f = lambda mm: jax.jit(jax.grad(
      lambda a, b: jnp.sum(conv.conv2d(a, b, strides, "SAME", matmul_grads=mm) ** 2), (0, 1)))
  for got, want in zip(f(True)(x, kern), f(False)(x, kern)):
    _close(got, want)


@pytest.mark.parametrize("padding,dilation", [("VALID", 1), (((2, 1), (0, 2)), 1),
                                              ("SAME", 2), (((3, 3), (1, 0)), (2, 1))])
def test_im2col_convolution_matches_xla(padding, dilation):
  x, kern = _normal(0, (2, 3, 4, 5)), _normal(1, (3, 3, 5, 6))
  dilation = _pair(dilation)
  pads = conv.resolve_padding(padding, (3, 4), (3, 3), (1, 1), dilation)
  xla = lambda a, b: lax.conv_general_dilated(a, b, (1, 1), pads, rhs_dilation=dilation,
                                              dimension_numbers=DN)
  ours = lambda a, b: conv._conv_im2col(a, b, (1, 1), pads, dilation)
  (want, want_vjp), (got, got_vjp) = jax.vjp(xla, x, kern), jax.vjp(ours, x, kern)
  _close(got, want)
  for g, w in zip(got_vjp(want), want_vjp(want)):
    _close(g, w)


def test_sharded_batch_under_jit(monkeypatch):
  monkeypatch.setattr(conv, "CHUNK_BYTES", 1)  # a loop over chunks of the sharded batch
  mesh = Mesh(np.array(jax.devices()), ("data",))
  n = 2 * len(jax.devices())
  x, kern = _normal(0, (n, 17, 15, 4)), _normal(1, (3, 3, 4, 8))
  loss = lambda mm: lambda a, b: jnp.sum(jnp.sin(conv.conv2d(a, b, 2, "SAME", matmul_grads=mm)))
  xs = jax.device_put(x, NamedSharding(mesh, P("data")))
  ks = jax.device_put(kern, NamedSharding(mesh, P()))
  got = jax.jit(jax.grad(loss(True), (0, 1)))(xs, ks)
  want = jax.jit(jax.grad(loss(False), (0, 1)))(x, kern)
  assert got[0].sharding.is_equivalent_to(xs.sharding, 4)
  for g, w in zip(got, want):
    _close(g, w)


@pytest.mark.parametrize("kwargs", [
    dict(features=8, kernel_size=(3, 3)),
    dict(features=6, kernel_size=(5, 5), strides=(2, 2), padding=2, use_bias=False),
    dict(features=4, kernel_size=(1, 7), padding=((0, 0), (3, 3))),
    dict(features=4, kernel_size=(3, 3), padding="VALID", kernel_dilation=(2, 2),
         kernel_init=nn.initializers.variance_scaling(2.0, "fan_in", "normal"),
         bias_init=nn.initializers.normal(0.1)),
])
def test_module_matches_flax_conv(kwargs):
  x = _normal(0, (2, 15, 13, 3))
  ours, theirs = conv.Conv(**kwargs), nn.Conv(**kwargs)
  params = ours.init(jax.random.key(1), x)
  flax_params = theirs.init(jax.random.key(1), x)
  assert jax.tree.structure(params) == jax.tree.structure(flax_params)
  jax.tree.map(np.testing.assert_array_equal, params, flax_params)  # same init, same key
  grads = lambda mod: jax.jit(jax.grad(lambda p: jnp.sum(mod.apply(p, x) ** 2)))(flax_params)
  want_y, want_grads = theirs.apply(flax_params, x), grads(theirs)
  for mm in (True, False):
    m = conv.Conv(**kwargs, matmul_grads=mm)
    _close(m.apply(flax_params, x), want_y, 1e-5)
    _close(m.apply(flax_params, x[0]), want_y[0], 1e-5)  # unbatched, as flax allows
    jax.tree.map(_close, grads(m), want_grads)


def test_auto_uses_matmul_grads_on_cpu_only():
  x = jnp.zeros((1, 8, 8, 3))
  params = conv.Conv(4, (3, 3)).init(jax.random.key(0), x)
  def has_custom_vjp(**kw):
    jaxpr = jax.make_jaxpr(lambda p: conv.Conv(4, (3, 3), **kw).apply(p, x))(params)
    return "custom_vjp" in str(jaxpr)
  assert has_custom_vjp() == (jax.default_backend() == "cpu")
  assert has_custom_vjp(matmul_grads=True)
  assert not has_custom_vjp(matmul_grads=False)


def test_bfloat16(matmul_everywhere):
  x, kern = _normal(0, (4, 13, 11, 8)), _normal(1, (3, 3, 8, 16)) * 0.2
  loss = lambda mm: jax.jit(jax.grad(
      lambda a, b: jnp.sum(conv.conv2d(a, b, 2, "SAME", matmul_grads=mm).astype(jnp.float32)
                           ** 2), (0, 1)))
  got = loss(True)(x.astype(jnp.bfloat16), kern.astype(jnp.bfloat16))
  want = loss(False)(x, kern)
  for g, w in zip(got, want):
    assert g.dtype == jnp.bfloat16
    _close(g.astype(jnp.float32), w, 3e-2)
  # The layer: bf16 compute, f32 params; same outputs as flax and f32 parameter grads.
  layer_kw = dict(features=16, kernel_size=(3, 3), dtype=jnp.bfloat16)
  params = nn.Conv(**layer_kw).init(jax.random.key(2), x)
  y = conv.Conv(**layer_kw).apply(params, x)
  assert y.dtype == jnp.bfloat16
  np.testing.assert_array_equal(y, nn.Conv(**layer_kw).apply(params, x))
  grads = jax.jit(jax.grad(lambda p: jnp.sum(
      conv.Conv(**layer_kw).apply(p, x).astype(jnp.float32) ** 2)))(params)
  want = jax.jit(jax.grad(lambda p: jnp.sum(
      nn.Conv(**layer_kw).apply(p, x).astype(jnp.float32) ** 2)))(params)
  assert grads["params"]["kernel"].dtype == jnp.float32
  jax.tree.map(lambda g, w: _close(g, w, 3e-2), grads, want)


def test_rejects_grouped_kernels_and_unknown_padding():
  with pytest.raises(ValueError):
    conv.conv2d(jnp.zeros((1, 5, 5, 4)), jnp.zeros((3, 3, 2, 4)))
  with pytest.raises(ValueError):
    conv.conv2d(jnp.zeros((1, 5, 5, 4)), jnp.zeros((3, 3, 4, 4)), padding="CIRCULAR")


def test_compiler_options_pick_the_cpu_convolution_library():
  x, kern = jnp.zeros((1, 16, 16, 32)), jnp.zeros((3, 3, 32, 32))
  def hlo(library):
    options = conv.compiler_options(library)
    return jax.jit(lambda a, b: conv.conv2d(a, b, matmul_grads=False),
                   compiler_options=options).lower(x, kern).compile().as_text()
  if jax.default_backend() != "cpu":
    assert conv.compiler_options("eigen") == {}
    return
  assert "__ynn_fusion" not in hlo("eigen") and "__ynn_fusion" not in hlo(None)
  assert "__ynn_fusion" in hlo("ynnpack")  # jax 0.10's default: YNNPACK convolutions
  with pytest.raises(ValueError, match="cpu_convolutions"):
    conv.compiler_options("onednn")
