"""Fully connected generator and discriminator of the original GAN (Goodfellow et al.,
"Generative Adversarial Nets", NeurIPS 2014).

The paper's generator used rectifier and sigmoid units, its discriminator maxout units
(with dropout, left out here). Here: the generator is a ReLU MLP with a linear output
(`output="linear"`, for points) or tanh (`"tanh"`, images scaled to [-1, 1]); the
discriminator's hidden units are maxout (`d_activation="maxout"`, `maxout_pieces` linear
pieces each) or ReLU. Both return raw values: the discriminator's output is a logit (or a
critic score for WGAN-GP), the loss decides what it means.

Class-conditional (Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014) when
`num_classes` > 0: the one-hot class is concatenated to the noise and to the
discriminator's input.
"""
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Maxout(nn.Module):
  """`features` units, each the maximum of `pieces` affine functions (Goodfellow et al. 2013)."""
  features: int
  pieces: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    y = nn.Dense(self.features * self.pieces, dtype=self.dtype, param_dtype=self.param_dtype)(x)
    return y.reshape(y.shape[:-1] + (self.features, self.pieces)).max(axis=-1)


class Generator(nn.Module):
  output_shape: Sequence[int]
  hidden: Sequence[int] = (128, 128)
  num_classes: int = 0
  output: str = "linear"  # linear | tanh
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z, labels=None, train: bool = True):
    del train  # no batch norm here: the same in training and evaluation
    x = z.astype(self.dtype)
    if self.num_classes:
      x = jnp.concatenate([x, jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)], -1)
    for width in self.hidden:
      x = nn.relu(nn.Dense(width, dtype=self.dtype, param_dtype=self.param_dtype)(x))
    x = nn.Dense(int(np.prod(self.output_shape)), dtype=self.dtype,
                 param_dtype=self.param_dtype)(x)
    if self.output == "tanh":
      x = jnp.tanh(x)
    return x.reshape(z.shape[:1] + tuple(self.output_shape)).astype(jnp.float32)


class Discriminator(nn.Module):
  hidden: Sequence[int] = (128, 128)
  num_classes: int = 0
  activation: str = "maxout"  # maxout | relu
  maxout_pieces: int = 5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, labels=None, train: bool = True):
    del train
    x = x.reshape((x.shape[0], -1)).astype(self.dtype)
    if self.num_classes:
      x = jnp.concatenate([x, jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)], -1)
    for width in self.hidden:
      if self.activation == "maxout":
        x = Maxout(width, self.maxout_pieces, self.dtype, self.param_dtype)(x)
      else:
        x = nn.relu(nn.Dense(width, dtype=self.dtype, param_dtype=self.param_dtype)(x))
    return nn.Dense(1, dtype=self.dtype, param_dtype=self.param_dtype)(x)[:, 0].astype(
        jnp.float32)


def networks(model_config, *, output_shape, num_classes: int):
  """(Generator, Discriminator) from `config.model`: `g_hidden`, `d_hidden`, `output`,
  `d_activation`, `maxout_pieces`, `dtype`, `param_dtype`."""
  c = model_config
  if c.d_activation not in ("maxout", "relu"):
    raise ValueError(f"--config.model.d_activation='{c.d_activation}': expected maxout or relu")
  if c.output not in ("linear", "tanh"):
    raise ValueError(f"--config.model.output='{c.output}': expected linear or tanh")
  dtypes = dict(dtype=jnp.dtype(c.dtype), param_dtype=jnp.dtype(c.param_dtype))
  return (Generator(output_shape=tuple(output_shape), hidden=tuple(c.g_hidden),
                    num_classes=num_classes, output=c.output, **dtypes),
          Discriminator(hidden=tuple(c.d_hidden), num_classes=num_classes,
                        activation=c.d_activation, maxout_pieces=c.maxout_pieces, **dtypes))
