"""RAPID's columns (Lu et al., "RAPID: Rating Pictorial Aesthetics using Deep Learning",
ACM MM 2014) joined into the channel of Gattupalli, Chandakkar and Li, "A Computational
Approach to Relative Aesthetics" (ICPR 2016).

A column, as the relative-aesthetics paper tabulates it:
  input 3x230x230; conv 64 11x11/2 pad 2; max-pool 2x2; conv 64 5x5/1 pad 1; max-pool
  2x2; conv 64 3x3/1 pad 1; conv 64 3x3/1 no pad; dropout 0.5; dense 1000; dropout 0.5;
  dense 256; dropout 0.5.
The table calls the input "padded" and also gives conv1 a padding of 2. We read 230x230 as
the tensor the column receives (the image the pipeline hands over) and the padding as
conv1's own, as a layer table lists a layer's padding: 230 + 2 + 2 = 234 -> conv1 112 ->
pool 56 -> conv2 54 -> pool 27 -> conv3 27 -> conv4 25, so dense 1000 sees 25x25x64 =
40,000 features. (Reading 230 as already including conv1's padding would mean 226-pixel
images, a size nobody crops; it gives 24x24x64.) Parameters per column:
  conv1 11*11*3*64 + 64 = 23,296; conv2 5*5*64*64 + 64 = 102,464; conv3 and conv4
  3*3*64*64 + 64 = 36,928 each; dense 40,000*1,000 + 1,000 = 40,001,000; dense
  1,000*256 + 256 = 256,256; in all 40,456,872 (a 224 input would give 24x24 and 37,320,872).
ReLU after every convolution and dense layer, as in RAPID.

The channel (`Channel`) has two columns: a global one on the whole image resized (layout:
rule of thirds, golden ratio) and a local one on a crop at native resolution (sharpness,
grain); their 256-feature outputs are concatenated into the channel's output C (512).
`Model` puts a head on the channel:
  - head='relative': f(C) = w.C, one linear output without bias. The relative model scores
    a pair by d(I1, I2) = f(C1 - C2) (`Model.difference`); f is linear and bias-free so that
    d(I2, I1) = -d(I1, I2) and d = f(C1) - f(C2): the hinge max(0, delta - y d) then treats
    both orders alike, and f(C) is the image's score a threshold classifies.
  - head='binary': dense softmax over (low, high), the RAPID-style baseline.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.conv import Conv
from zoo.models.layers import MaxPool

_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
HEADS = ("relative", "binary")


class Column(nn.Module):
  """One RAPID column: images [N, H, W, 3] -> features [N, fc_features[-1]]."""
  conv_features: int = 64
  fc_features: Sequence[int] = (1000, 256)
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, self.conv_features, matmul_grads=self.conv_matmul_grads,
                             dtype=self.dtype, param_dtype=self.param_dtype,
                             kernel_init=_kernel_init)
    pool = functools.partial(MaxPool, (2, 2), (2, 2))
    x = nn.relu(conv((11, 11), strides=(2, 2), padding=((2, 2), (2, 2)), name="conv1")(x))
    x = pool()(x)
    x = nn.relu(conv((5, 5), padding=((1, 1), (1, 1)), name="conv2")(x))
    x = pool()(x)
    x = nn.relu(conv((3, 3), padding=((1, 1), (1, 1)), name="conv3")(x))
    x = nn.relu(conv((3, 3), padding="VALID", name="conv4")(x))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    x = x.reshape((x.shape[0], -1))
    for i, features in enumerate(self.fc_features):
      x = nn.relu(nn.Dense(features, dtype=self.dtype, param_dtype=self.param_dtype,
                           kernel_init=_kernel_init, name=f"fc{i + 1}")(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return x


class Model(nn.Module):
  """A channel (global and local column) and its head.

  `__call__(image, local=None, train)`: image [N, S, S, 3] is the global view, local
  [N, L, L, 3] the native-resolution crop (the image itself when None, which is what
  `--describe` feeds); returns [N, 1] scores (head='relative') or [N, num_classes] logits.
  """
  num_classes: int = 2
  head: str = "relative"
  conv_features: int = 64
  fc_features: Sequence[int] = (1000, 256)
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None

  def setup(self):
    if self.head not in HEADS:
      raise ValueError(f"--config.model.head='{self.head}': expected one of {HEADS}")
    column = functools.partial(Column, self.conv_features, tuple(self.fc_features),
                               self.dropout_rate, self.dtype, self.param_dtype,
                               self.conv_matmul_grads)
    self.global_column = column()
    self.local_column = column()
    if self.head == "relative":  # f: linear, no bias, so d(I2, I1) = -d(I1, I2)
      self.f = nn.Dense(1, use_bias=False, dtype=self.dtype, param_dtype=self.param_dtype)
    else:
      self.f = nn.Dense(self.num_classes, dtype=self.dtype, param_dtype=self.param_dtype)

  def channel(self, image, local=None, train: bool = False):
    """C: the two columns' features concatenated, [N, 2 * fc_features[-1]]."""
    local = image if local is None else local
    return jnp.concatenate([self.global_column(image, train), self.local_column(local, train)],
                           axis=-1)

  def difference(self, c1, c2):
    """d(I1, I2) = f(C1 - C2), [N] (head='relative')."""
    return self.f(c1 - c2)[:, 0].astype(jnp.float32)

  def output(self, c):
    return self.f(c).astype(jnp.float32)

  def __call__(self, image, local=None, train: bool = False):
    return self.output(self.channel(image, local, train))
