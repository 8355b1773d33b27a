"""GoogLeNet (Szegedy et al., "Going Deeper with Convolutions", CVPR 2015), the ILSVRC 2014
winner, laid out as the paper's Table 1 and Section 5 (and the BVLC Caffe model).

conv 7x7/2 64, max-pool 3x3/2, LRN, conv 1x1 64, conv 3x3 192, LRN, max-pool 3x3/2,
inception 3a-3b, max-pool, 4a-4e, max-pool, 5a-5b, average pool, dropout 40%, linear.
An inception module concatenates four branches: 1x1; 1x1 reduce -> 3x3; 1x1 reduce ->
5x5; 3x3/1 max-pool -> 1x1 "pool proj" (widths from Table 1). ReLU after every
convolution, all with biases; max-pools round up as in Caffe, so a 224x224 input gives
28x28x256 after 3a, 14x14x512 after 4a and 7x7x1024 after 5b. LRN: size 5, alpha 1e-4,
beta 0.75 and Caffe's default k = 1 (the BVLC model's settings).

Two auxiliary classifiers read the outputs of 4a and 4d (Section 5): average pool 5x5/3
(4x4 at 224), 1x1 conv 128, fc 1024, dropout 70%, linear; the task weights their losses
(0.3 in the paper). They are built whenever `aux_logits` is set (so parameters exist
after an init in eval mode) and returned only in training; under `jit` their unused
evaluation-mode results are dead code and cost nothing.

Parameters at 1000 classes: 6,998,552 without the auxiliary heads (6,990,272 weights and
8,280 biases), 13,378,280 with them (+3,188,840 on 4a, +3,190,888 on 4d). Table 1's
"params" column counts weights (no biases) in units of 1,024 and sums to 6,797.7K
("6.8M"); ours are 6,826.4K in those units. Five of its rows agree to within 1K with
the table's own channel widths; conv1 (2.7K for a 7x7 conv from 3 to 64 channels: 9.2K),
4c (463K for 497.5K), 5a (1,072K for 1,018K) and four more (by 0.7-1.8%) do not. Forward
pass at 224: 1.58 G multiply-adds without the auxiliary heads; Table 1's "ops" sum to
1.50 G, its conv1 row counting 34M where 9,408 weights over 112x112 make 118M.

Small inputs (CPU stand-ins): the final average pool covers whatever grid is left (7x7
at 224) and the auxiliary pool's window is clipped to the grid when the 4a grid is
smaller than 5x5 (at 64x64 the grid is 4x4 and the pool gives 1x1x512), so the fc 1024
layer then reads 128 values instead of 4x4x128.

`remat=True` recomputes each inception module's activations in the backward pass
instead of keeping them (`nn.remat`): less memory for large batches, one more forward
pass of compute; the parameter tree is the same.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.conv import Conv
from zoo.models.layers import AvgPool, MaxPool
from zoo.models.vgg_f import local_response_norm

# He initialisation as in the zoo's VGG-F (the BVLC model uses Xavier with 0.2 biases).
_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")

# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
POOL_AFTER = ("3b", "4e")  # a 3x3/2 max-pool follows these modules
AUX_AFTER = ("4a", "4d")   # auxiliary classifiers read these modules' outputs


class Branch(nn.Module):
  """Convolutions with ReLU (`kernels[i]` x `kernels[i]`, 'same' padding), optionally
  after a 3x3/1 max-pool; `norm` (batch norm, if on) between each and its ReLU."""
  features: Sequence[int]
  kernels: Sequence[int]
  conv: Any
  norm: Any
  pool_first: bool = False

  @nn.compact
  def __call__(self, x):
    if self.pool_first:
      x = MaxPool((3, 3), (1, 1), padding=((1, 1), (1, 1)))(x)
    for features, k in zip(self.features, self.kernels):
      x = nn.relu(self.norm()(self.conv(features, (k, k), padding=((k // 2, k // 2),) * 2)(x)))
    return x


class Inception(nn.Module):
  """The four branches of Figure 2(b), concatenated along channels."""
  widths: Sequence[int]  # a row of INCEPTION
  conv: Any
  norm: Any

  @nn.compact
  def __call__(self, x):
    n1x1, r3, n3x3, r5, n5x5, proj = self.widths
    c, n = self.conv, self.norm
    return jnp.concatenate([
        Branch((n1x1,), (1,), c, n, name="branch1x1")(x),
        Branch((r3, n3x3), (1, 3), c, n, name="branch3x3")(x),
        Branch((r5, n5x5), (1, 5), c, n, name="branch5x5")(x),
        Branch((proj,), (1,), c, n, pool_first=True, name="branch_pool")(x),
    ], axis=-1)


class AuxClassifier(nn.Module):
  """Section 5's side classifier: avg-pool 5x5/3, 1x1 conv 128, fc 1024, dropout, linear."""
  num_classes: int
  dropout_rate: float
  conv: Any
  norm: Any
  dense: Any

  @nn.compact
  def __call__(self, x, train: bool):
    window = tuple(min(5, d) for d in x.shape[1:3])  # clipped on grids under 5x5
    x = AvgPool(window, (3, 3), padding="CEIL")(x)
    x = nn.relu(self.norm()(self.conv(128, (1, 1), name="conv")(x)))
    x = nn.relu(self.dense(1024, name="fc")(x.reshape((x.shape[0], -1))))
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    return self.dense(self.num_classes, name="classifier")(x).astype(jnp.float32)


class GoogLeNet(nn.Module):
  """`__call__(images [N,H,W,3], train) -> logits [N, num_classes]`, or in training with
  `aux_logits`: `(logits, (aux1_logits, aux2_logits))`, all float32."""
  num_classes: int = 1000
  dropout_rate: float = 0.4
  aux_dropout_rate: float = 0.7
  aux_logits: bool = True
  lrn: bool = True
  # Off in the paper; on, every convolution is followed by batch norm (and has no bias),
  # as in Ioffe & Szegedy's BN-Inception (2015), the first network batch norm was used on.
  batch_norm: bool = False
  bn_momentum: float = 0.9
  bn_epsilon: float = 1e-5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None  # None: matmul gradients on the CPU only
  remat: bool = False  # recompute each inception module's activations in the backward pass

  @nn.compact
  def __call__(self, x, train: bool = False):
    conv = functools.partial(Conv, matmul_grads=self.conv_matmul_grads, dtype=self.dtype,
                             param_dtype=self.param_dtype, kernel_init=_kernel_init,
                             use_bias=not self.batch_norm)
    if self.batch_norm:
      norm = functools.partial(nn.BatchNorm, use_running_average=not train,
                               momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                               dtype=self.dtype, param_dtype=self.param_dtype)
    else:
      norm = lambda: (lambda y: y)  # pylint: disable=unnecessary-lambda-assignment
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype,
                              kernel_init=_kernel_init)
    pool = functools.partial(MaxPool, (3, 3), (2, 2), padding="CEIL")  # Caffe rounds up
    lrn = (functools.partial(local_response_norm, params=(5, 1.0, 1e-4 / 5, 0.75))
           if self.lrn else (lambda y: y))
    x = conv(64, (7, 7), strides=(2, 2), padding=((3, 3), (3, 3)), name="conv1")(x)
    x = lrn(pool()(nn.relu(norm()(x))))
    x = nn.relu(norm()(conv(64, (1, 1), name="conv2_reduce")(x)))
    x = nn.relu(norm()(conv(192, (3, 3), padding=((1, 1), (1, 1)), name="conv2")(x)))
    x = pool()(lrn(x))
    inception = nn.remat(Inception) if self.remat else Inception
    aux = []
    for stage, widths in INCEPTION.items():
      x = inception(widths, conv, norm, name=f"inception_{stage}")(x)
      if self.aux_logits and stage in AUX_AFTER:
        aux.append(AuxClassifier(self.num_classes, self.aux_dropout_rate, conv, norm, dense,
                                 name=f"aux{len(aux) + 1}")(x, train))
      if stage in POOL_AFTER:
        x = pool()(x)
    x = AvgPool(x.shape[1:3], (1, 1))(x)  # global: 7x7 at 224
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x.reshape((x.shape[0], -1)))
    logits = dense(self.num_classes, name="classifier")(x).astype(jnp.float32)
    if train and self.aux_logits:
      return logits, tuple(aux)
    return logits


Model = GoogLeNet
