"""Parameter-free layers as `flax.linen` modules, so `--describe` can list their kernel,
stride and padding next to the convolutions (plain `nn.max_pool` calls are invisible to
module interception).

`max_pool` computes the maximum over the window's strided slices and has its own
gradient: XLA differentiates `reduce_window(max)` with `select_and_scatter`, which
XLA:CPU expands into iotas, reduce-windows and a scatter over the whole input; on 2 CPU
cores, batch 32, forward and gradient of Inception-v3's first max-pool (3x3/2 on
147x147x64) took 587 ms that way and 301 ms this way, its four max-pools 1.21 s and
0.62 s (`python -m benchmarks.conv --pools`). The forward pass records which tap of each window
held the maximum (the first, in row-major order, as `select_and_scatter` picks), one byte
per output, and the gradient sends each output's gradient back to that tap.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from zoo.models import conv


def _padding(padding, x, window, strides):
  """`padding` as flax takes it; 'CEIL' becomes the far-edge padding that makes the
  output size round up (Caffe's pooling)."""
  if padding != "CEIL":
    return padding
  def far_edge(size, k, s):
    out = -(-(size - k) // s) + 1
    return (0, max(0, (out - 1) * s + k - size))
  return tuple(far_edge(x.shape[i], window[i - 1], strides[i - 1]) for i in (1, 2))


def _taps(x, window, strides, pads):
  """The window's KH*KW strided slices of `x` padded with -inf, each of the output's shape."""
  (kh, kw), (sh, sw) = window, strides
  xp = lax.pad(x, jnp.array(-jnp.inf, x.dtype),
               ((0, 0, 0), pads[0] + (0,), pads[1] + (0,), (0, 0, 0)))
  ho, wo = (xp.shape[1] - kh) // sh + 1, (xp.shape[2] - kw) // sw + 1
  return [xp[:, i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw]
          for i in range(kh) for j in range(kw)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3, 4))
def _max_pool(x, window, strides, pads, in_hw):
  del in_hw  # the gradient's shape
  return functools.reduce(jnp.maximum, _taps(x, window, strides, pads))


def _max_pool_fwd(x, window, strides, pads, in_hw):
  del in_hw
  taps = _taps(x, window, strides, pads)
  y, arg = taps[0], jnp.zeros(taps[0].shape, jnp.int8 if len(taps) < 128 else jnp.int32)
  for k, t in enumerate(taps[1:], 1):
    arg = jnp.where(t > y, jnp.asarray(k, arg.dtype), arg)
    y = jnp.maximum(y, t)
  return y, arg


def _max_pool_bwd(window, strides, pads, in_hw, arg, dy):
  (kh, kw), (sh, sw), (h, w) = window, strides, in_hw
  _, ho, wo, _ = dy.shape
  zero = jnp.zeros((), dy.dtype)
  dx = None
  for i in range(kh):
    for j in range(kw):  # tap (i, j) of output (u, v) is padded input (i + u*sh, j + v*sw)
      lo_h, lo_w = i - pads[0][0], j - pads[1][0]
      g = lax.pad(jnp.where(arg == i * kw + j, dy, zero), zero, (
          (0, 0, 0), (lo_h, h - lo_h - (ho - 1) * sh - 1, sh - 1),
          (lo_w, w - lo_w - (wo - 1) * sw - 1, sw - 1), (0, 0, 0)))
      dx = g if dx is None else dx + g
  return (dx,)


_max_pool.defvjp(_max_pool_fwd, _max_pool_bwd)


def max_pool(x, window=(3, 3), strides=(2, 2), padding="VALID"):
  """Max-pooling over H, W of NHWC `x`, as `nn.max_pool` computes it, with the gradient
  described in the module docstring."""
  window, strides = tuple(window), tuple(strides)
  in_hw = tuple(x.shape[1:3])
  pads = conv.resolve_padding(padding, in_hw, window, strides, (1, 1))
  return _max_pool(x, window, strides, pads, in_hw)


class MaxPool(nn.Module):
  """Max-pooling over H, W of NHWC inputs. `padding`: 'VALID', 'SAME', explicit pairs,
  or 'CEIL' (output size rounded up, as Caffe and the GoogLeNet/VGG-F papers do)."""
  window: Sequence[int] = (3, 3)
  strides: Sequence[int] = (2, 2)
  padding: Any = "VALID"

  @nn.compact
  def __call__(self, x):
    return max_pool(x, self.window, self.strides,
                    _padding(self.padding, x, self.window, self.strides))


class AvgPool(nn.Module):
  """Average-pooling over H, W of NHWC inputs; padded cells are left out of the mean
  (`count_include_pad=False`, as TensorFlow and Keras do) unless told otherwise."""
  window: Sequence[int] = (3, 3)
  strides: Sequence[int] = (1, 1)
  padding: Any = "VALID"
  count_include_pad: bool = False

  @nn.compact
  def __call__(self, x):
    padding = _padding(self.padding, x, self.window, self.strides)
    return nn.avg_pool(x, tuple(self.window), tuple(self.strides), padding=padding,
                       count_include_pad=self.count_include_pad)
