"""Inception-v3 (Szegedy et al., "Rethinking the Inception Architecture for Computer
Vision", CVPR 2016), laid out as Keras Applications' `InceptionV3` builds it (which follows
the TF-slim reference), so Keras' ImageNet weights convert one to one
(`python -m zoo.models.convert`).

At 299x299: a stem of 3x3 convolutions and max-pools down to 35x35x192; three 35x35
blocks (mixed0-2); a grid reduction to 17x17 (mixed3); four 17x17 blocks whose 7x7
convolutions are factorized into 1x7 and 7x1 (mixed4-7); a reduction to 8x8 (mixed8);
two 8x8 blocks with split 1x3/3x1 outputs (mixed9-10, 2048 channels); global average
pool, dropout and the classifier. Every convolution has no bias and is followed by batch
norm without scale (a ReLU follows, so a scale is redundant) with epsilon 1e-3, as in
Keras and TF-slim; momentum 0.9997 is TF-slim's. Branches are built in the order Keras
builds them (the converter relies on it).

23,817,352 trainable parameters at 1000 classes without the auxiliary head (Keras'
`InceptionV3` figure), plus 34,432 batch-norm statistics. The auxiliary classifier
(the paper's section 4, on the 17x17 grid after mixed7: 5x5/3 average pool, 1x1 conv 128,
5x5 conv 768, fc) adds 3,325,800; with batch-norm scales added this is torchvision's
27,161,264. At inputs smaller than 299 the 17x17 grid shrinks (6x6 at 128x128, 3x3 at
Keras' minimum of 75x75); the auxiliary pool and 5x5 convolution then take
min(5, map size) per side, as TF-slim's `_reduced_kernel_size_for_small_input` does, so
the head still fits (and ends on a 1x1 map, as at 299; larger inputs leave a larger map,
which is averaged). The auxiliary logits are returned only when training; their weight
in the loss (0.4) is the task's business.

`remat=True` recomputes the activations of each mixed block in the backward pass
instead of keeping them (`nn.remat`): less memory for large batches, one more forward
pass of compute; the parameter tree is the same.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.conv import Conv
from zoo.models.layers import AvgPool, MaxPool

# TF-slim's inception_v3_arg_scope: He-style variance scaling for the convolutions.
_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "truncated_normal")


class ConvBN(nn.Module):
  """Convolution without bias, batch norm without scale, ReLU. `pool_first`: a 3x3/1
  'same' average pool (padded cells left out of the mean, as in Keras) on the input of
  this 1x1 convolution, computed after it instead: both are linear and one acts on
  positions, the other on channels, so the order does not change the result, and the
  convolution's output has 4-10x fewer channels to pool (Inception-v3 at 299, batch 32,
  2 CPU cores: 5.7 -> 5.4 s per train step)."""
  features: int
  kernel_size: Sequence[int]
  conv: Any
  norm: Any
  strides: int = 1
  padding: str = "SAME"
  pool_first: bool = False

  @nn.compact
  def __call__(self, x):
    x = self.conv(self.features, self.kernel_size, strides=self.strides,
                  padding=self.padding, name="conv")(x)
    if self.pool_first:
      if tuple(self.kernel_size) != (1, 1):
        raise ValueError("pooling commutes with 1x1 convolutions only")
      x = AvgPool((3, 3), (1, 1), padding=((1, 1), (1, 1)))(x)
    return nn.relu(self.norm(name="bn")(x))


class Block35(nn.Module):
  """35x35 block (mixed0-2): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""
  pool_features: int
  conv_bn: Any

  @nn.compact
  def __call__(self, x):
    c = self.conv_bn
    b1 = c(64, (1, 1), name="branch1x1")(x)
    b5 = c(48, (1, 1), name="branch5x5_1")(x)
    b5 = c(64, (5, 5), name="branch5x5_2")(b5)
    b3 = c(64, (1, 1), name="branch3x3dbl_1")(x)
    b3 = c(96, (3, 3), name="branch3x3dbl_2")(b3)
    b3 = c(96, (3, 3), name="branch3x3dbl_3")(b3)
    bp = c(self.pool_features, (1, 1), name="branch_pool", pool_first=True)(x)
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class Reduction35(nn.Module):
  """35x35 -> 17x17 (mixed3): 3x3/2 | 1x1-3x3-3x3/2 | maxpool 3x3/2."""
  conv_bn: Any

  @nn.compact
  def __call__(self, x):
    c = self.conv_bn
    b3 = c(384, (3, 3), strides=2, padding="VALID", name="branch3x3")(x)
    bd = c(64, (1, 1), name="branch3x3dbl_1")(x)
    bd = c(96, (3, 3), name="branch3x3dbl_2")(bd)
    bd = c(96, (3, 3), strides=2, padding="VALID", name="branch3x3dbl_3")(bd)
    bp = MaxPool((3, 3), (2, 2))(x)
    return jnp.concatenate([b3, bd, bp], axis=-1)


class Block17(nn.Module):
  """17x17 block (mixed4-7) with 7x7 convolutions factorized into 1x7 and 7x1."""
  channels_7x7: int
  conv_bn: Any

  @nn.compact
  def __call__(self, x):
    c, n = self.conv_bn, self.channels_7x7
    b1 = c(192, (1, 1), name="branch1x1")(x)
    b7 = c(n, (1, 1), name="branch7x7_1")(x)
    b7 = c(n, (1, 7), name="branch7x7_2")(b7)
    b7 = c(192, (7, 1), name="branch7x7_3")(b7)
    bd = c(n, (1, 1), name="branch7x7dbl_1")(x)
    bd = c(n, (7, 1), name="branch7x7dbl_2")(bd)
    bd = c(n, (1, 7), name="branch7x7dbl_3")(bd)
    bd = c(n, (7, 1), name="branch7x7dbl_4")(bd)
    bd = c(192, (1, 7), name="branch7x7dbl_5")(bd)
    bp = c(192, (1, 1), name="branch_pool", pool_first=True)(x)
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class Reduction17(nn.Module):
  """17x17 -> 8x8 (mixed8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool 3x3/2."""
  conv_bn: Any

  @nn.compact
  def __call__(self, x):
    c = self.conv_bn
    b3 = c(192, (1, 1), name="branch3x3_1")(x)
    b3 = c(320, (3, 3), strides=2, padding="VALID", name="branch3x3_2")(b3)
    b7 = c(192, (1, 1), name="branch7x7x3_1")(x)
    b7 = c(192, (1, 7), name="branch7x7x3_2")(b7)
    b7 = c(192, (7, 1), name="branch7x7x3_3")(b7)
    b7 = c(192, (3, 3), strides=2, padding="VALID", name="branch7x7x3_4")(b7)
    bp = MaxPool((3, 3), (2, 2))(x)
    return jnp.concatenate([b3, b7, bp], axis=-1)


class Block8(nn.Module):
  """8x8 block (mixed9-10): 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | avgpool-1x1."""
  conv_bn: Any

  @nn.compact
  def __call__(self, x):
    c = self.conv_bn
    b1 = c(320, (1, 1), name="branch1x1")(x)
    b3 = c(384, (1, 1), name="branch3x3_1")(x)
    b3 = jnp.concatenate([c(384, (1, 3), name="branch3x3_2a")(b3),
                          c(384, (3, 1), name="branch3x3_2b")(b3)], axis=-1)
    bd = c(448, (1, 1), name="branch3x3dbl_1")(x)
    bd = c(384, (3, 3), name="branch3x3dbl_2")(bd)
    bd = jnp.concatenate([c(384, (1, 3), name="branch3x3dbl_3a")(bd),
                          c(384, (3, 1), name="branch3x3dbl_3b")(bd)], axis=-1)
    bp = c(192, (1, 1), name="branch_pool", pool_first=True)(x)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class AuxHead(nn.Module):
  """Auxiliary classifier on the 17x17 grid: avgpool 5x5/3, 1x1 conv 128, 5x5 conv 768
  (both shrunk to the grid at small inputs, see the module docstring), fc."""
  num_classes: int
  conv_bn: Any
  dense: Any

  @nn.compact
  def __call__(self, x):
    window = tuple(min(5, s) for s in x.shape[1:3])
    x = AvgPool(window, (3, 3))(x)
    x = self.conv_bn(128, (1, 1), name="conv0")(x)
    x = self.conv_bn(768, tuple(min(5, s) for s in x.shape[1:3]), padding="VALID",
                     name="conv1")(x)
    return self.dense(self.num_classes, name="fc")(jnp.mean(x, axis=(1, 2)))


class InceptionV3(nn.Module):
  """`__call__(images [N,H,W,3], train) -> logits [N, num_classes]`, or
  `(logits, (aux_logits,))` when training with `aux_logits`."""
  num_classes: int = 1000
  dropout_rate: float = 0.2
  aux_logits: bool = True
  bn_momentum: float = 0.9997
  bn_epsilon: float = 1e-3
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None
  remat: bool = False  # recompute each mixed block's activations in the backward pass

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, use_bias=False, kernel_init=_kernel_init, dtype=self.dtype,
                             param_dtype=self.param_dtype, matmul_grads=self.conv_matmul_grads)
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, use_scale=False,
                             momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                             dtype=self.dtype, param_dtype=self.param_dtype)
    c = functools.partial(ConvBN, conv=conv, norm=norm)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    wrap = nn.remat if self.remat else (lambda block: block)
    block35, reduction35, block17, reduction17, block8 = (
        wrap(b) for b in (Block35, Reduction35, Block17, Reduction17, Block8))

    x = c(32, (3, 3), strides=2, padding="VALID", name="conv0")(x)   # 149
    x = c(32, (3, 3), padding="VALID", name="conv1")(x)              # 147
    x = c(64, (3, 3), name="conv2")(x)
    x = MaxPool((3, 3), (2, 2))(x)                                   # 73
    x = c(80, (1, 1), padding="VALID", name="conv3")(x)
    x = c(192, (3, 3), padding="VALID", name="conv4")(x)             # 71
    x = MaxPool((3, 3), (2, 2))(x)                                   # 35
    for i, pool_features in enumerate((32, 64, 64)):
      x = block35(pool_features, c, name=f"mixed{i}")(x)
    x = reduction35(c, name="mixed3")(x)                             # 17
    for i, channels in enumerate((128, 160, 160, 192)):
      x = block17(channels, c, name=f"mixed{4 + i}")(x)
    aux = None
    if self.aux_logits and (train or self.is_initializing()):
      aux = AuxHead(self.num_classes, c, dense, name="aux")(x).astype(jnp.float32)
    x = reduction17(c, name="mixed8")(x)                             # 8
    for i in range(2):
      x = block8(c, name=f"mixed{9 + i}")(x)
    x = jnp.mean(x, axis=(1, 2))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = dense(self.num_classes, name="predictions")(x).astype(jnp.float32)
    if train and self.aux_logits:
      return logits, (aux,)
    return logits


Model = InceptionV3
