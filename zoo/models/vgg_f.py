"""VGG-F, the "fast" network of Chatfield et al., "Return of the Devil in the Details:
Delving Deep into Convolutional Nets", BMVC 2014 (an AlexNet without its two groups).

conv1 64x11x11/4 + LRN + max-pool; conv2 256x5x5 pad 2 + LRN + max-pool;
conv3-5 256x3x3 pad 1, max-pool after conv5; fc6 4096, fc7 4096 (dropout), fc8.
Pooling rounds up, as in Caffe, so a 224x224 input reaches fc6 as 6x6x256:
60,834,536 parameters at 1000 classes (the paper's table rounds this to 61 M).

The released network (MatConvNet's `imagenet-vgg-f.mat`, converted by `zoo.models.convert
--from=matconvnet`) pads each pooling explicitly instead ([0 1 0 1] after conv1, none
after conv2 and conv5: the same sizes at 224): `pool_pads` takes those, and `lrn_params`
the file's LRN parameters.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

from zoo.models.conv import Conv
from zoo.models.layers import MaxPool

# He initialisation: the paper's N(0, 0.01) stalls without its long schedule.
_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


# Krizhevsky et al.'s LRN in MatConvNet's form [N kappa alpha beta]: Caffe's alpha 1e-4 is
# divided by N there.
LRN_PARAMS = (5, 2.0, 2e-5, 0.75)


def local_response_norm(x, params=LRN_PARAMS):
  """LRN across channels as MatConvNet's `vl_nnnormalize` defines it: y = x / (kappa +
  alpha * sum of x^2 over channels k - floor((N-1)/2) .. k + ceil((N-1)/2))^beta, with
  `params = (N, kappa, alpha, beta)` (alpha is not divided by N, unlike Caffe's)."""
  size, kappa, alpha, beta = params
  size = int(size)
  below = (size - 1) // 2
  squares = lax.reduce_window(
      jnp.square(x), 0.0, lax.add, (1, 1, 1, size), (1, 1, 1, 1),
      ((0, 0), (0, 0), (0, 0), (below, size - 1 - below)))
  return x / (kappa + alpha * squares) ** beta


class VGGF(nn.Module):
  """VGG-F. `__call__(images [N,H,W,C], train) -> logits [N, num_classes]`, or the fc7
  features [N, fc_features] when `num_classes=0`. C is 3 for RGB, 2L for stacked flow."""
  num_classes: int = 1000
  fc_features: int = 4096
  dropout_rate: float = 0.5
  lrn: bool = True
  lrn_params: Sequence[float] = LRN_PARAMS  # (N, kappa, alpha, beta), MatConvNet's form
  # () rounds pooling up (Caffe); else ((top, bottom, left, right),) x 3 for pool1, 2, 5
  pool_pads: Sequence[Sequence[int]] = ()
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None  # None: matmul gradients on the CPU only

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, matmul_grads=self.conv_matmul_grads, dtype=self.dtype,
                             param_dtype=self.param_dtype, kernel_init=_kernel_init)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype,
                              kernel_init=_kernel_init)
    if self.pool_pads and len(self.pool_pads) != 3:
      raise ValueError(f"--config.model.pool_pads={self.pool_pads}: expected () or three "
                       "(top, bottom, left, right)")
    pads = [((t, b), (l, r)) for t, b, l, r in self.pool_pads] or ["CEIL"] * 3
    pool = lambda i: MaxPool((3, 3), (2, 2), padding=pads[i])  # "CEIL": as Caffe, rounds up
    norm = ((lambda y: local_response_norm(y, tuple(self.lrn_params))) if self.lrn
            else (lambda y: y))
    x = nn.relu(conv(64, (11, 11), strides=(4, 4), padding="VALID", name="conv1")(x))
    x = pool(0)(norm(x))
    x = nn.relu(conv(256, (5, 5), padding=((2, 2), (2, 2)), name="conv2")(x))
    x = pool(1)(norm(x))
    for i in (3, 4, 5):
      x = nn.relu(conv(256, (3, 3), padding=((1, 1), (1, 1)), name=f"conv{i}")(x))
    x = pool(2)(x)
    x = x.reshape((x.shape[0], -1))
    for i in (6, 7):
      x = nn.relu(dense(self.fc_features, name=f"fc{i}")(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if not self.num_classes:  # a feature extractor: fc7 (Video2Vec's two streams)
      return x
    return dense(self.num_classes, name="fc8")(x).astype(jnp.float32)


Model = VGGF
