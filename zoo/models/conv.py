"""2-D convolution with matmul gradients where XLA:CPU's are slow, and a `flax.linen` layer.

Two things decide how fast a convnet trains on a CPU with jax 0.10:

* Which library runs the convolutions. XLA:CPU hands them to YNNPACK by default, which on
  the 2-core development machine (float32, batch 32) ran Inception-v3's stem 2-7x slower
  than XLA's older Eigen convolutions: a 3x3 32->32 'VALID' convolution at 149x149 took
  517 ms in YNNPACK and 72 ms in Eigen, 3x3/2 288->384 at 35x35 218 ms and 50 ms, and
  YNNPACK's 'VALID' convolutions ran 2.5-3.5x slower than its 'SAME' ones. YNNPACK is still
  as fast for matmuls and much faster for reductions (batch-norm statistics; XLA's own
  reductions over N*H*W made an Inception-v3 step 1.9x slower). `compiler_options`
  gives the `jax.jit` option that keeps YNNPACK for those and Eigen for convolutions
  (`config.cpu_convolutions`, 'eigen' by default; `launch.train` passes it to its jits).
* Which gradients are matmuls (`matmul_grads`, on by default on the CPU backend). With
  Eigen convolutions (`python -m benchmarks.conv`):
  - 1x1 convolutions are plain matmuls in all three directions: the filter gradient
    (N*Ho*Wo, Cin)^T @ (N*Ho*Wo, Cout) 2.5x faster than Eigen's (1x1 64->256 at 56x56:
    62 -> 25 ms), the input gradient dy @ kernel^T 1.05x.
  - Strided KxK input gradients: Eigen dilates dy with zeros and wastes (s^2-1)/s^2 of
    its work on them, so here the padded input rows are split by phase (u mod sh); per
    phase one matmul of the row-shifted dy with the taps that reach that phase gives all
    KW column taps, which are summed back into place (col2im along W), in chunks of
    images (CHUNK_BYTES of temporaries): 2.2x on 3x3/2 128->128 at 56x56 (124 -> 57 ms),
    1.4x on the 7x7/2 stem and on Inception-v3's 3x3/2 288->384 reduction.
  - Everything else stays Eigen's: its KxK filter gradients beat every matmul
    formulation measured (per-tap, im2col, taps split between the two operands, in
    chunks or not: 0.6-0.8x of Eigen at batch 32 and 128), as do its stride-1 input
    gradients; so do problems with few positions (N*Ho*Wo < MIN_INPUT_GRAD_ROWS).
  (YNNPACK's own filter gradients are 3-7x slower than Eigen's; this module's earlier
  versions replaced them with chunked matmuls, see git history.)
* Maps smaller than the kernel (2x2 under 3x3, 4x4 under 5x5) fall off a cliff in both
  libraries (3x3 512->512 at 2x2, batch 32: 268 ms in Eigen, 489 ms in YNNPACK, 4 ms as
  im2col); `conv2d` computes those as im2col matmuls differentiated by JAX.

Products accumulate in float32 (bfloat16 inputs are promoted: faster on this CPU than
bf16 matmuls) and the gradients are cast back to the input dtypes.

`Conv` mirrors the part of `flax.linen.Conv` the zoo uses, with identical parameters
('kernel' HWIO, 'bias'), so checkpoints are interchangeable; `matmul_grads=None` turns the
matmul gradients on when the default backend is the CPU. Forward-mode differentiation
(`jax.jvp`) is not defined through the custom VJP; use `matmul_grads=False` for that.
"""
import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen.dtypes import promote_dtype
from jax import lax

DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")

# Read at trace time (tests lower them to exercise every path on small tensors).
MIN_INPUT_GRAD_ROWS = 3000  # strided KxK input grads as matmuls from N*Ho*Wo >= this
CHUNK_BYTES = 8 << 20       # temporaries per fori_loop step

# XLA:CPU's libraries for `config.cpu_convolutions` (see the module docstring).
_YNN_FUSIONS = {
    "eigen": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE",
    "ynnpack": "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE,"
               "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION",  # jax 0.10's default
}
CPU_CONVOLUTIONS = tuple(_YNN_FUSIONS)


def _pair(v) -> tuple[int, int]:
  if isinstance(v, int):
    return (v, v)
  v = tuple(int(a) for a in v)
  if len(v) != 2:
    raise ValueError(f"expected two spatial values, got {v}")
  return v


def resolve_padding(padding, in_hw, kernel_hw, strides, dilation):
  """'SAME' / 'VALID' / int / [(lo, hi), (lo, hi)] -> ((lo, hi), (lo, hi)) of ints."""
  if isinstance(padding, str):
    if padding.upper() not in ("SAME", "VALID"):
      raise ValueError(f"padding must be 'SAME', 'VALID', an int or pairs; got {padding!r}")
    eff = [(k - 1) * d + 1 for k, d in zip(kernel_hw, dilation)]
    return tuple((int(lo), int(hi)) for lo, hi in
                 lax.padtype_to_pads(in_hw, eff, strides, padding.upper()))
  if isinstance(padding, (int, np.integer)):
    return ((int(padding),) * 2,) * 2
  padding = tuple(padding)
  if len(padding) != 2:
    raise ValueError(f"need padding for 2 spatial dims, got {padding}")
  return tuple((int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1]))
               for p in padding)


def _xla_conv(x, kernel, strides, pads, dilation):
  return lax.conv_general_dilated(x, kernel, strides, pads, rhs_dilation=dilation,
                                  dimension_numbers=DIMENSION_NUMBERS)


def _pad_and_crop(x, kernel_hw, strides, pads, dilation, out_hw):
  """The padded input, cut to the rows and columns that the convolution reads."""
  (kh, kw), (sh, sw), (dh, dw), (ho, wo) = kernel_hw, strides, dilation, out_hw
  (ph0, ph1), (pw0, pw1) = pads
  xp = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (ph0, ph1, 0), (pw0, pw1, 0), (0, 0, 0)))
  return xp[:, :(ho - 1) * sh + (kh - 1) * dh + 1, :(wo - 1) * sw + (kw - 1) * dw + 1]


def _out_hw(x_shape, kernel_hw, strides, pads, dilation):
  return tuple(max(0, (n + lo + hi - (k - 1) * d - 1) // s + 1) for n, k, s, d, (lo, hi)
               in zip(x_shape[1:3], kernel_hw, strides, dilation, pads))


def _conv_1x1(x, kernel, strides, pads):
  """A 1x1 convolution as one matmul: 2-5x faster than XLA's convolution on the CPU."""
  out_hw = _out_hw(x.shape, (1, 1), strides, pads, (1, 1))
  xs = _pad_and_crop(x, (1, 1), strides, pads, (1, 1), out_hw)[:, ::strides[0], ::strides[1]]
  return lax.dot_general(xs, kernel[0, 0], (((3,), (0,)), ((), ())))


def _conv_im2col(x, kernel, strides, pads, dilation):
  """Patches (N, Ho, Wo, KH*KW*Cin) @ kernel (KH*KW*Cin, Cout), differentiated by JAX
  (a gather, a matmul; the gradients are a matmul and a scatter-add). For maps smaller
  than the kernel, where XLA's CPU convolution falls off a cliff (see `_tiny_map`)."""
  kernel_hw = kernel.shape[:2]
  (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
  ho, wo = _out_hw(x.shape, kernel_hw, strides, pads, dilation)
  xp = _pad_and_crop(x, kernel_hw, strides, pads, dilation, (ho, wo))
  rows = (np.arange(ho)[:, None] * sh + np.arange(kh)[None, :] * dh)[:, None, :, None]
  cols = (np.arange(wo)[:, None] * sw + np.arange(kw)[None, :] * dw)[None, :, None, :]
  patches = xp[:, rows, cols, :].reshape(x.shape[0], ho, wo, -1)
  return lax.dot_general(patches, kernel.reshape(-1, kernel.shape[-1]),
                         (((3,), (0,)), ((), ())))


def _tiny_map(x_shape, kernel_hw) -> bool:
  """Input smaller than the kernel (e.g. 2x2 under a 3x3 kernel, 4x4 under 5x5), as
  ResNet-50, GoogLeNet and Inception-v3 meet on small inputs: XLA's CPU convolutions
  crawl there (3x3 512->512 at 2x2, batch 32: 268 ms forward in Eigen, 489 ms in
  YNNPACK; at batch 64 YNNPACK took 5.0 s, and 39 s for 5x5 at 4x4)."""
  return x_shape[1] < kernel_hw[0] or x_shape[2] < kernel_hw[1]


def _forward(x, kernel, strides, pads, dilation):
  if kernel.shape[:2] == (1, 1):
    return _conv_1x1(x, kernel, strides, pads)
  return _xla_conv(x, kernel, strides, pads, dilation)


def _contract_rows(a, b, dtype):
  """a (L, P), b (L, Q) -> a^T b (P, Q), accumulated in `dtype`."""
  return lax.dot_general(a, b, (((0,), (0,)), ((), ())), preferred_element_type=dtype)


def _images_per_chunk(n, per_image_bytes, images_per_chunk):
  """Images per loop step: about CHUNK_BYTES of temporaries, dividing the batch."""
  if images_per_chunk is None:
    # A multiple of the devices the batch may be sharded over, so that chunks stay sharded.
    step = math.gcd(n, jax.device_count())
    fits = max(1, CHUNK_BYTES // max(per_image_bytes, 1))
    images_per_chunk = max([d for d in range(step, n + 1, step) if n % d == 0 and d <= fits],
                           default=step)
  nb = min(n, max(1, images_per_chunk))
  while n % nb:
    nb -= 1
  return nb


def filter_grad(x, dy, kernel_hw, strides, pads, dilation, *, method="auto"):
  """d(conv)/d(kernel), float32 (or wider), shape (KH, KW, Cin, Cout). method: '1x1' (one
  matmul over the flattened batch), 'xla', or 'auto' ('1x1' for 1x1 kernels)."""
  kernel_hw, strides, dilation = _pair(kernel_hw), _pair(strides), _pair(dilation)
  (sh, sw), (_, _, _, cin), cout = strides, x.shape, dy.shape[-1]
  dtype = jnp.promote_types(jnp.promote_types(x.dtype, dy.dtype), jnp.float32)
  x, dy = x.astype(dtype), dy.astype(dtype)  # bf16: promoting first measured 1.3x faster
  if method == "auto":
    method = "1x1" if kernel_hw == (1, 1) else "xla"
  if method == "xla":
    kernel = jnp.zeros(kernel_hw + (cin, cout), dtype)
    _, vjp = jax.vjp(lambda k: _xla_conv(x, k, strides, pads, dilation), kernel)
    return vjp(dy)[0]
  if method != "1x1" or kernel_hw != (1, 1):
    raise ValueError(f"filter-gradient method {method!r} for a {kernel_hw} kernel")
  xs = _pad_and_crop(x, kernel_hw, strides, pads, dilation, dy.shape[1:3])[:, ::sh, ::sw]
  g = _contract_rows(xs.reshape(-1, cin), dy.reshape(-1, cout), dtype)
  return g.reshape(1, 1, cin, cout)


def _input_grad_matmul(dy, kernel, x_shape, strides, pads, dilation):
  """The transposed convolution as matmuls, one per phase of the padded rows (u mod sh)."""
  n, h, w, cin = x_shape
  _, ho, wo, cout = dy.shape
  (kh, kw), (sh, sw), (dh, dw) = kernel.shape[:2], strides, dilation
  (ph0, _), (pw0, _) = pads
  m_lo = ph0 // sh  # padded rows u = sh*m + r, m in [m_lo, m_lo + m_count), cover the input
  m_count = (ph0 + h - 1) // sh - m_lo + 1
  zero = jnp.zeros((), dy.dtype)
  phases = []
  for r in range(sh):
    taps = [i for i in range(kh) if (i * dh) % sh == r]  # the kernel rows that reach phase r
    if not taps:
      phases.append(jnp.zeros((n, m_count, w, cin), dy.dtype))
      continue
    q = np.array([(i * dh - r) // sh for i in taps])
    rows = m_lo + np.arange(m_count)[:, None] - q[None, :]  # M, T: the dy row of each tap
    lo, hi = max(0, -int(rows.min())), max(0, int(rows.max()) - (ho - 1))
    dyp = lax.pad(dy, zero, ((0, 0, 0), (lo, hi, 0), (0, 0, 0), (0, 0, 0)))  # zero rows
    dy_side = jnp.moveaxis(dyp[:, rows + lo], 2, 3)  # N, M, Wo, T, Cout
    k_side = jnp.transpose(kernel[np.array(taps)], (0, 3, 1, 2))  # T, Cout, KW, Cin
    t = lax.dot_general(dy_side.reshape(-1, len(taps) * cout),
                        k_side.reshape(len(taps) * cout, kw * cin), (((1,), (0,)), ((), ())),
                        preferred_element_type=dy.dtype).reshape(n, m_count, wo, kw, cin)
    acc = None
    for j in range(kw):  # col2im along W: column w*sw + j*dw of the padded input
      first = j * dw - pw0
      part = lax.pad(t[:, :, :, j], zero, ((0, 0, 0), (0, 0, 0),
                                           (first, w - first - (wo - 1) * sw - 1, sw - 1),
                                           (0, 0, 0)))
      acc = part if acc is None else acc + part
    phases.append(acc)
  z = jnp.stack(phases, 2).reshape(n, m_count * sh, w, cin)  # interleave the phases
  return z[:, ph0 - sh * m_lo:ph0 - sh * m_lo + h]


def input_grad(dy, kernel, x_shape, strides, pads, dilation, *, method="auto",
               images_per_chunk=None):
  """d(conv)/d(x) in float32 (or wider): method 'auto', '1x1', 'matmul' or 'xla'."""
  strides, dilation = _pair(strides), _pair(dilation)
  dtype = jnp.promote_types(jnp.promote_types(dy.dtype, kernel.dtype), jnp.float32)
  dy, kernel = dy.astype(dtype), kernel.astype(dtype)
  n, h, w, cin = x_shape
  (kh, kw), (sh, sw) = kernel.shape[:2], strides
  _, ho, wo, cout = dy.shape
  if method == "auto":
    if kh * kw == 1:
      method = "1x1"
    elif n * ho * wo >= MIN_INPUT_GRAD_ROWS and sh * sw > 1:
      method = "matmul"
    else:
      method = "xla"
  if method == "xla":
    _, vjp = jax.vjp(lambda a: _xla_conv(a, kernel, strides, pads, dilation),
                     jnp.zeros(x_shape, dtype))
    return vjp(dy)[0]
  if method == "1x1":  # dy @ kernel^T, spread back to the strided positions it came from
    if kh * kw != 1:
      raise ValueError("method '1x1' needs a 1x1 kernel")
    t = lax.dot_general(dy, kernel[0, 0], (((3,), (1,)), ((), ())))
    (ph0, _), (pw0, _) = pads
    return lax.pad(t, jnp.zeros((), dtype), (
        (0, 0, 0), (-ph0, h + ph0 - (ho - 1) * sh - 1, sh - 1),
        (-pw0, w + pw0 - (wo - 1) * sw - 1, sw - 1), (0, 0, 0)))
  if method != "matmul":
    raise ValueError(f"unknown input-gradient method {method!r}")
  fn = lambda d, nb: _input_grad_matmul(d, kernel, (nb, h, w, cin), strides, pads, dilation)
  per_image = ho * wo * (kh * cout + sh * kw * cin) * jnp.dtype(dtype).itemsize
  nb = _images_per_chunk(n, per_image, images_per_chunk)
  steps = n // nb
  if steps == 1:
    return fn(dy, n)
  dr = dy.reshape((nb, steps) + dy.shape[1:])  # chunk s: images s, s+steps, ...
  def body(s, out):
    return lax.dynamic_update_index_in_dim(
        out, fn(lax.dynamic_index_in_dim(dr, s, 1, keepdims=False), nb), s, 1)
  out = lax.fori_loop(0, steps, body, jnp.zeros((nb, steps, h, w, cin), dtype))
  return out.reshape(x_shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_matmul_grads(x, kernel, strides, pads, dilation):
  return _forward(x, kernel, strides, pads, dilation)


def _conv_fwd(x, kernel, strides, pads, dilation):
  return _forward(x, kernel, strides, pads, dilation), (x, kernel)


def _conv_bwd(strides, pads, dilation, residuals, dy):
  x, kernel = residuals
  dx = input_grad(dy, kernel, x.shape, strides, pads, dilation)
  dk = filter_grad(x, dy, kernel.shape[:2], strides, pads, dilation)
  return dx.astype(x.dtype), dk.astype(kernel.dtype)


_conv_matmul_grads.defvjp(_conv_fwd, _conv_bwd)


def conv2d(x, kernel, strides=(1, 1), padding="SAME", dilation=(1, 1), matmul_grads=True):
  """NHWC x HWIO convolution (feature_group_count 1), like `lax.conv_general_dilated`.

  `padding`: 'SAME', 'VALID', an int or ((lo, hi), (lo, hi)). With `matmul_grads` the
  forward pass is XLA's (one matmul for 1x1 kernels) and the gradients are matmuls (see
  the module docstring); without, it is exactly `lax.conv_general_dilated`.
  """
  strides, dilation = _pair(strides), _pair(dilation)
  if x.ndim != 4 or kernel.ndim != 4:
    raise ValueError(f"need NHWC input and HWIO kernel, got {x.shape} and {kernel.shape}")
  if kernel.shape[2] != x.shape[3]:
    raise ValueError(f"kernel has {kernel.shape[2]} input features, input has {x.shape[3]}")
  if not matmul_grads:
    pads = padding.upper() if isinstance(padding, str) else resolve_padding(
        padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
    return lax.conv_general_dilated(x, kernel, strides, pads, rhs_dilation=dilation,
                                    dimension_numbers=DIMENSION_NUMBERS)
  pads = resolve_padding(padding, x.shape[1:3], kernel.shape[:2], strides, dilation)
  if _tiny_map(x.shape, kernel.shape[:2]):
    return _conv_im2col(x, kernel, strides, pads, dilation)
  return _conv_matmul_grads(x, kernel, strides, pads, dilation)


def compiler_options(cpu_convolutions: str | None = None) -> dict:
  """`jax.jit(..., compiler_options=...)` that picks XLA:CPU's convolution library,
  'eigen' (None: the default) or 'ynnpack' (see the module docstring); empty on other
  backends."""
  cpu_convolutions = cpu_convolutions or "eigen"
  if cpu_convolutions not in CPU_CONVOLUTIONS:
    raise ValueError(f"cpu_convolutions must be one of {list(CPU_CONVOLUTIONS)}, "
                     f"got {cpu_convolutions!r}")
  if jax.default_backend() != "cpu":
    return {}
  return {"xla_cpu_experimental_ynn_fusion_type": _YNN_FUSIONS[cpu_convolutions]}


def default_matmul_grads() -> bool:
  """'auto': matmul gradients where XLA's convolution gradients are slow, the CPU."""
  return jax.default_backend() == "cpu"


class Conv(nn.Module):
  """`flax.linen.Conv` (2-D, ungrouped) with matmul gradients on the CPU.

  Same parameters as `nn.Conv`: 'kernel' (KH, KW, Cin, features) and 'bias' (features,).
  Inputs are NHWC; an unbatched HWC input or extra leading batch dims work as in flax.
  """
  features: int
  kernel_size: Sequence[int]
  strides: None | int | Sequence[int] = (1, 1)
  padding: Any = "SAME"
  kernel_dilation: None | int | Sequence[int] = (1, 1)
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.lecun_normal()
  bias_init: Callable = nn.initializers.zeros
  matmul_grads: bool | None = None  # None: on the CPU only

  @nn.compact
  def __call__(self, inputs):
    kernel_size = _pair(self.kernel_size)
    batch_shape = inputs.shape[:-3]
    x = inputs.reshape((-1,) + inputs.shape[-3:])  # flax accepts any number of batch dims
    kernel = self.param("kernel", self.kernel_init,
                        kernel_size + (inputs.shape[-1], self.features), self.param_dtype)
    bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel, bias = promote_dtype(x, kernel, bias, dtype=self.dtype)
    matmul = default_matmul_grads() if self.matmul_grads is None else self.matmul_grads
    strides = _pair(1 if self.strides is None else self.strides)  # None means 1, as in flax
    dilation = _pair(1 if self.kernel_dilation is None else self.kernel_dilation)
    y = conv2d(x, kernel, strides, self.padding, dilation, matmul_grads=matmul)
    if bias is not None:
      y = y + bias.reshape((1, 1, 1, -1))
    return y.reshape(batch_shape + y.shape[1:])
