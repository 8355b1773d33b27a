"""A small CNN for facial attributes: the judge of the attribute-manipulation experiments
(`face_attribute_classifier`) and, frozen, the perceptual feature network of their
content loss (Wang et al., "Weakly Supervised Facial Attribute Manipulation via Deep
Adversarial Network", WACV 2018, use a pretrained VGG; none can be downloaded here, so
the zoo trains this one on the same images' attribute labels).

Blocks of a 3x3 convolution and a 3x3 stride-2 convolution (ReLU, no normalisation, so
the network is a pure function of its weights: no batch statistics to freeze), `width`,
2 `width`, 4 `width`, 8 `width` channels, stopping at 4x4; global average pooling; one
logit per attribute (independent sigmoids). `features=True` returns the block outputs
(the perceptual loss's layers) and the pooled vector (the Fréchet features) beside the
logits. Input: images in [-1, 1].
"""
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.models import conv


class Model(nn.Module):
  num_classes: int  # attributes
  width: int = 32
  conv_matmul_grads: Any = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False):
    del train  # no dropout, no batch norm
    layer = lambda c, s: conv.Conv(c, (3, 3), strides=(s, s), padding="SAME",
                                   matmul_grads=self.conv_matmul_grads, dtype=self.dtype,
                                   param_dtype=self.param_dtype)
    x = x.astype(self.dtype)
    blocks, i = [], 0
    while x.shape[1] > 4 and i < 4:
      x = nn.relu(layer(self.width * 2 ** i, 1)(x))
      x = nn.relu(layer(self.width * 2 ** i, 2)(x))
      blocks.append(x.astype(jnp.float32))
      i += 1
    pooled = x.mean(axis=(1, 2))
    logits = nn.Dense(self.num_classes, dtype=self.dtype,
                      param_dtype=self.param_dtype)(pooled).astype(jnp.float32)
    if features:
      return logits, {"blocks": blocks, "pooled": pooled.astype(jnp.float32)}
    return logits
