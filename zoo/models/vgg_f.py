"""VGG-F, the "fast" network of Chatfield et al., "Return of the Devil in the Details:
Delving Deep into Convolutional Nets", BMVC 2014 (an AlexNet without its two groups).

conv1 64x11x11/4 + LRN + max-pool; conv2 256x5x5 pad 2 + LRN + max-pool;
conv3-5 256x3x3 pad 1, max-pool after conv5; fc6 4096, fc7 4096 (dropout), fc8.
Pooling rounds up, as in Caffe, so a 224x224 input reaches fc6 as 6x6x256:
60,834,536 parameters at 1000 classes (the paper's table rounds this to 61 M).
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from zoo.models.conv import Conv
from zoo.models.layers import MaxPool

# He initialisation: the paper's N(0, 0.01) stalls without its long schedule.
_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
  """Krizhevsky et al. 2012 LRN across channels (Caffe's convention: alpha / size)."""
  squares = lax.reduce_window(
      jnp.square(x), 0.0, lax.add, (1, 1, 1, size), (1, 1, 1, 1),
      ((0, 0), (0, 0), (0, 0), (size // 2, (size - 1) // 2)))
  return x / (k + alpha / size * squares) ** beta


class VGGF(nn.Module):
  """VGG-F. `__call__(images [N,H,W,C], train) -> logits [N, num_classes]`, or the fc7
  features [N, fc_features] when `num_classes=0`. C is 3 for RGB, 2L for stacked flow."""
  num_classes: int = 1000
  fc_features: int = 4096
  dropout_rate: float = 0.5
  lrn: bool = True
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None  # None: matmul gradients on the CPU only

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, matmul_grads=self.conv_matmul_grads, dtype=self.dtype,
                             param_dtype=self.param_dtype, kernel_init=_kernel_init)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype,
                              kernel_init=_kernel_init)
    pool = functools.partial(MaxPool, (3, 3), (2, 2), padding="CEIL")  # Caffe rounds up
    norm = local_response_norm if self.lrn else (lambda y: y)
    x = nn.relu(conv(64, (11, 11), strides=(4, 4), padding="VALID", name="conv1")(x))
    x = pool()(norm(x))
    x = nn.relu(conv(256, (5, 5), padding=((2, 2), (2, 2)), name="conv2")(x))
    x = pool()(norm(x))
    for i in (3, 4, 5):
      x = nn.relu(conv(256, (3, 3), padding=((1, 1), (1, 1)), name=f"conv{i}")(x))
    x = pool()(x)
    x = x.reshape((x.shape[0], -1))
    for i in (6, 7):
      x = nn.relu(dense(self.fc_features, name=f"fc{i}")(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if not self.num_classes:  # a feature extractor: fc7 (Video2Vec's two streams)
      return x
    return dense(self.num_classes, name="fc8")(x).astype(jnp.float32)


Model = VGGF
