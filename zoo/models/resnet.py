"""ResNet-50 v1.5 (He et al., "Deep Residual Learning for Image Recognition", CVPR 2016).

v1.5 puts the stride of a downsampling bottleneck in its 3x3 convolution (not the first
1x1), as in the torchvision and NVIDIA reference models. Convolutions have no bias;
batch norm follows each. 25,557,032 trainable parameters at 1000 classes.

`stride_in_1x1=True, conv_bias=True, bn_epsilon=1.001e-5` gives the original v1 as
Keras Applications' `ResNet50` builds it (25,583,592 trainable parameters), the layout
of Keras' ImageNet weights (`python -m zoo.models.convert --model=resnet50`).

`remat=True` recomputes each bottleneck's activations in the backward pass instead of
keeping them (`nn.remat`, Chen et al. 2016, "Training Deep Nets with Sublinear Memory
Cost"): less memory for large batches at the price of a second forward pass. The
parameter tree is the same either way.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.conv import Conv
from zoo.models.layers import MaxPool

_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class Bottleneck(nn.Module):
  """1x1 reduce, 3x3 (strided), 1x1 expand x4; projection shortcut when shapes change."""
  features: int
  strides: int
  conv: Any
  norm: Any
  stride_in_1x1: bool = False  # v1: the stride in the first 1x1, not the 3x3

  @nn.compact
  def __call__(self, x):
    s1, s3 = (self.strides, 1) if self.stride_in_1x1 else (1, self.strides)
    y = nn.relu(self.norm()(self.conv(self.features, (1, 1), strides=s1)(x)))
    y = nn.relu(self.norm()(self.conv(self.features, (3, 3), strides=s3,
                                      padding=((1, 1), (1, 1)))(y)))
    # Zero-initialised last scale: each block starts as the identity (Goyal et al. 2017).
    y = self.norm(scale_init=nn.initializers.zeros)(self.conv(4 * self.features, (1, 1))(y))
    if x.shape != y.shape:
      x = self.norm()(self.conv(4 * self.features, (1, 1), strides=self.strides,
                                name="projection")(x))
    return nn.relu(x + y)


class ResNet(nn.Module):
  """`__call__(images [N,H,W,3], train) -> logits [N, num_classes]`."""
  num_classes: int = 1000
  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  width: int = 64
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  stride_in_1x1: bool = False  # True: v1 (Keras' ResNet50)
  conv_bias: bool = False      # True: convolutions with biases (Keras' ResNet50)
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None
  remat: bool = False  # recompute each block's activations in the backward pass

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, use_bias=self.conv_bias, kernel_init=_kernel_init,
                             dtype=self.dtype, param_dtype=self.param_dtype,
                             matmul_grads=self.conv_matmul_grads)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=self.param_dtype)
    x = conv(self.width, (7, 7), strides=2, padding=((3, 3), (3, 3)), name="stem")(x)
    x = nn.relu(norm(name="stem_bn")(x))
    x = MaxPool((3, 3), (2, 2), padding=((1, 1), (1, 1)))(x)
    block = nn.remat(Bottleneck) if self.remat else Bottleneck
    index = 0  # names as without remat ('Bottleneck_0', ...), so the trees are the same
    for stage, blocks in enumerate(self.stage_sizes):
      for i in range(blocks):
        strides = 2 if stage > 0 and i == 0 else 1
        x = block(self.width * 2 ** stage, strides, conv, norm, self.stride_in_1x1,
                  name=f"Bottleneck_{index}")(x)
        index += 1
    x = jnp.mean(x, axis=(1, 2))
    return nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype,
                    name="head")(x).astype(jnp.float32)


Model = ResNet
