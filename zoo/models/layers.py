"""Parameter-free layers as `flax.linen` modules, so `--describe` can list their kernel,
stride and padding next to the convolutions (plain `nn.max_pool` calls are invisible to
module interception)."""
from typing import Any, Sequence

import flax.linen as nn


def _padding(padding, x, window, strides):
  """`padding` as flax takes it; 'CEIL' becomes the far-edge padding that makes the
  output size round up (Caffe's pooling)."""
  if padding != "CEIL":
    return padding
  def far_edge(size, k, s):
    out = -(-(size - k) // s) + 1
    return (0, max(0, (out - 1) * s + k - size))
  return tuple(far_edge(x.shape[i], window[i - 1], strides[i - 1]) for i in (1, 2))


class MaxPool(nn.Module):
  """Max-pooling over H, W of NHWC inputs. `padding`: 'VALID', 'SAME', explicit pairs,
  or 'CEIL' (output size rounded up, as Caffe and the GoogLeNet/VGG-F papers do)."""
  window: Sequence[int] = (3, 3)
  strides: Sequence[int] = (2, 2)
  padding: Any = "VALID"

  @nn.compact
  def __call__(self, x):
    padding = _padding(self.padding, x, self.window, self.strides)
    return nn.max_pool(x, tuple(self.window), tuple(self.strides), padding=padding)


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
