"""DCGAN generator and discriminator (Radford, Metz & Chintala, "Unsupervised Representation
Learning with Deep Convolutional Generative Adversarial Networks", ICLR 2016).

The paper's rules: no pooling, strided convolutions in the discriminator and fractionally
strided (transposed) ones in the generator; batch norm in both, except the generator's
output and the discriminator's input layer; ReLU in the generator with a tanh output,
LeakyReLU 0.2 in the discriminator; weights from N(0, 0.02). Layout as in the authors'
64x64 code (dcgan.torch): the noise is projected to 4x4 x (8 * width) maps, each 4x4
stride-2 layer doubles the size and halves the channels (512-256-128-64-3 at width 64),
and the discriminator mirrors it (64-128-256-512, then one output). Any square image size
4 * 2^n works (8x8 digits: one layer each way).

`d_norm`: 'batch' (the paper), 'layer' or 'none' (WGAN-GP's critic: its gradient penalty
is per example, which batch norm breaks; Gulrajani et al. 2017 use layer norm).
Class-conditional when `num_classes` > 0: one-hot class concatenated to the noise, and as
constant maps to the discriminator's input channels (Mirza & Osindero 2014).
"""
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from zoo.models import conv

INIT = nn.initializers.normal(0.02)


def _scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)  # batch norm's gamma ~ N(1, 0.02)


def _stages(image_size: int) -> int:
  stages = math.log2(image_size / 4)
  if image_size < 8 or stages != int(stages):
    raise ValueError(f"DCGAN image size {image_size} is not 4 * 2^n (8, 16, 32, 64, ...)")
  return int(stages)


class ConvTranspose2x(nn.Module):
  """A 4x4, stride-2, 'SAME' transposed convolution (doubles height and width), computed as
  the input gradient of the strided convolution it transposes with the zoo's matmul
  formulation (`conv.input_grad`): XLA:CPU runs `nn.ConvTranspose`'s input-dilated
  convolution on a slow generic path. Kernel (4, 4, features, input channels): the
  forward convolution's HWIO layout."""
  features: int
  use_bias: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    n, h, w, c = x.shape
    kernel = self.param("kernel", INIT, (4, 4, self.features, c), self.param_dtype)
    pads = conv.resolve_padding("SAME", (2 * h, 2 * w), (4, 4), (2, 2), (1, 1))
    y = conv.input_grad(x.astype(self.dtype), kernel.astype(self.dtype),
                        (n, 2 * h, 2 * w, self.features), (2, 2), pads, (1, 1),
                        method="matmul").astype(self.dtype)
    if self.use_bias:
      y = y + self.param("bias", nn.initializers.zeros, (self.features,), self.param_dtype)
    return y


class Generator(nn.Module):
  image_size: int = 64
  channels: int = 3
  width: int = 64
  num_classes: int = 0
  bn_momentum: float = 0.9
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    stages = _stages(self.image_size)
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                                epsilon=1e-5, scale_init=_scale_init, dtype=self.dtype,
                                param_dtype=self.param_dtype)
    x = z.astype(self.dtype)
    if self.num_classes:
      x = jnp.concatenate([x, jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)], -1)
    features = self.width * 2 ** (stages - 1)
    x = nn.Dense(4 * 4 * features, kernel_init=INIT, dtype=self.dtype,
                 param_dtype=self.param_dtype)(x)
    x = nn.relu(norm()(x.reshape((-1, 4, 4, features))))
    for i in range(stages):
      last = i == stages - 1
      x = ConvTranspose2x(self.channels if last else features // 2 ** (i + 1), use_bias=last,
                          dtype=self.dtype, param_dtype=self.param_dtype)(x)
      x = jnp.tanh(x) if last else nn.relu(norm()(x))
    return x.astype(jnp.float32)


class Discriminator(nn.Module):
  image_size: int = 64
  width: int = 64
  num_classes: int = 0
  norm: str = "batch"  # batch | layer | none
  bn_momentum: float = 0.9
  matmul_grads: Any = None  # the zoo's convolution: None = on the CPU only
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    stages = _stages(self.image_size)
    x = x.astype(self.dtype)
    if self.num_classes:
      maps = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)[:, None, None, :]
      x = jnp.concatenate([x, jnp.broadcast_to(maps, x.shape[:3] + maps.shape[-1:])], -1)
    for i in range(stages):
      x = conv.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding="SAME",
                    kernel_init=INIT, use_bias=i == 0 or self.norm == "none",
                    matmul_grads=self.matmul_grads, dtype=self.dtype,
                    param_dtype=self.param_dtype)(x)
      if i > 0 and self.norm == "batch":
        x = nn.BatchNorm(use_running_average=not train, momentum=self.bn_momentum,
                         epsilon=1e-5, scale_init=_scale_init, dtype=self.dtype,
                         param_dtype=self.param_dtype)(x)
      elif i > 0 and self.norm == "layer":
        x = nn.LayerNorm(dtype=self.dtype, param_dtype=self.param_dtype)(x)
      x = nn.leaky_relu(x, 0.2)
    x = x.reshape((x.shape[0], -1))
    return nn.Dense(1, kernel_init=INIT, dtype=self.dtype,
                    param_dtype=self.param_dtype)(x)[:, 0].astype(jnp.float32)


_SWITCH = {"auto": None, "on": True, "off": False}


def networks(model_config, *, output_shape, num_classes: int):
  """(Generator, Discriminator) from `config.model`: `width`, `d_norm`, `bn_momentum`,
  `conv_matmul_grads` (auto | on | off), `dtype`, `param_dtype`; `output_shape` (S, S, C)."""
  c = model_config
  size, width, channels = output_shape
  if size != width:
    raise ValueError(f"DCGAN needs square images, got {size}x{width}")
  if c.d_norm not in ("batch", "layer", "none"):
    raise ValueError(f"--config.model.d_norm='{c.d_norm}': expected batch, layer or none")
  if c.conv_matmul_grads not in _SWITCH:
    raise ValueError(f"--config.model.conv_matmul_grads='{c.conv_matmul_grads}': expected "
                     f"one of {', '.join(_SWITCH)}")
  _stages(size)
  dtypes = dict(dtype=jnp.dtype(c.dtype), param_dtype=jnp.dtype(c.param_dtype))
  return (Generator(image_size=size, channels=channels, width=c.width,
                    num_classes=num_classes, bn_momentum=c.bn_momentum, **dtypes),
          Discriminator(image_size=size, width=c.width, num_classes=num_classes,
                        norm=c.d_norm, bn_momentum=c.bn_momentum,
                        matmul_grads=_SWITCH[c.conv_matmul_grads], **dtypes))
