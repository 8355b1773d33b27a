"""VGG-16 and VGG-19 (Simonyan and Zisserman, ICLR 2015) as Keras Applications builds them,
so `zoo.models.convert --from=keras --model=vgg16|vgg19` copies their ImageNet weights.

Five blocks of 3x3 'same' convolutions with ReLU (64, 128, 256, 512, 512 channels; 2, 2, 3,
3, 3 convolutions in VGG-16, 2, 2, 4, 4, 4 in VGG-19), each followed by a 2x2 max-pool;
fc1 4096, fc2 4096 (dropout in training), predictions. Layers are named as Keras names
them (`block3_conv2`, `fc1`, `predictions`). Input: Caffe-style BGR minus the ImageNet mean
(`--config.input_normalization=caffe`), 224x224 for the classifier. 138,357,544
parameters (VGG-16) and 143,667,240 (VGG-19) at 1000 classes.

`features=True` returns {'blocks': the last ReLU of each of the first `num_blocks` blocks
(relu1_2, relu2_2, relu3_3, ... in VGG-16)}: the perceptual-loss layers of Wang et al.'s
facial-attribute manipulation (`--config.manipulation.perceptual=vgg16:DIR`), at any input
size, computing no more blocks than asked.
"""
import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.conv import Conv
from zoo.models.layers import MaxPool

WIDTHS = (64, 128, 256, 512, 512)
CONVS = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


class VGG(nn.Module):
  num_classes: int = 1000
  depth: int = 16
  fc_features: int = 4096
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None

  @nn.compact
  def __call__(self, x, train: bool = False, features: bool = False, num_blocks: int = 5):
    if self.depth not in CONVS:
      raise ValueError(f"--config.model.depth={self.depth}: expected one of {sorted(CONVS)}")
    conv = functools.partial(Conv, kernel_size=(3, 3), padding="SAME", dtype=self.dtype,
                             param_dtype=self.param_dtype, matmul_grads=self.conv_matmul_grads)
    blocks = []
    x = x.astype(self.dtype)
    for b, (width, convs) in enumerate(zip(WIDTHS, CONVS[self.depth])):
      for i in range(convs):
        x = nn.relu(conv(width, name=f"block{b + 1}_conv{i + 1}")(x))
      blocks.append(x.astype(jnp.float32))
      if features and len(blocks) == num_blocks:
        return {"blocks": blocks}
      x = MaxPool((2, 2), (2, 2))(x)
    if features:
      return {"blocks": blocks}
    x = x.reshape((x.shape[0], -1))  # Keras' Flatten of the NHWC map: the same order
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    for name in ("fc1", "fc2"):
      x = nn.relu(dense(self.fc_features, name=name)(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    if not self.num_classes:
      return x
    return dense(self.num_classes, name="predictions")(x).astype(jnp.float32)


Model = VGG
