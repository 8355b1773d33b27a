"""Video2Vec: Li, Hu and Li, "Recognizing Unseen Actions in a Domain-Adapted Embedding
Space" (ICIP 2016) and "Video2Vec: Learning Semantic Spatio-Temporal Embeddings for Video
Representations" (ICPR 2016).

Two streams, each a CNN applied at every time step (spatial: VGG-F on one RGB frame;
temporal: a VGG-F-shaped CNN on a stack of L optical-flow fields, 2L channels), fc7
features; one RNN per stream over time, masked by the sequence length so padded steps
change nothing; the two final states joined (2 x 1024) -> MLP (1200) -> a vector in the
word-vector space; a softmax head on the joined states for recognition.

With `freeze_cnn=True` (the CNNs frozen, the paper's setting and the fast path) the inputs are
per-step fc7 features computed once and cached (`launch/features.py`), not frames.
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

from zoo.models.vgg_f import VGGF

CELLS = {"lstm": nn.OptimizedLSTMCell, "gru": nn.GRUCell, "simple": nn.SimpleCell}


class StreamRNN(nn.Module):
  """The final hidden state of an RNN over `x` [N, T, F], reading only `length` steps."""
  hidden: int
  cell: str = "lstm"
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, length):
    if self.cell not in CELLS:
      raise ValueError(f"--config.model.cell='{self.cell}': expected one of {', '.join(CELLS)}")
    cell = CELLS[self.cell](self.hidden, dtype=self.dtype, param_dtype=self.param_dtype)
    carry, _ = nn.RNN(cell, return_carry=True)(x.astype(self.dtype), seq_lengths=length)
    return carry[1] if self.cell == "lstm" else carry  # an LSTM's carry is (c, h)


class Video2Vec(nn.Module):
  """`__call__(rgb, flow, length, train)` -> {'embedding': [N, embed_dim], 'logits':
  [N, num_classes]}. `rgb`, `flow`: [N, T, F] features, or with `freeze_cnn=False` frames
  [N, T, S, S, 3] and flow stacks [N, T, S, S, 2L], already normalised."""
  num_classes: int
  embed_dim: int = 50
  rnn_hidden: int = 1024
  cell: str = "lstm"
  mlp_hidden: Sequence[int] = (1200,)
  dropout_rate: float = 0.5
  freeze_cnn: bool = True  # True: inputs are cached CNN features; False: frames
  fc_features: int = 4096  # the CNNs' fc7 width (freeze_cnn=False)
  lrn: bool = True
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  conv_matmul_grads: bool | None = None

  @nn.compact
  def __call__(self, rgb, flow, length, train: bool = False):
    if not self.freeze_cnn:
      cnn = functools.partial(VGGF, num_classes=0, fc_features=self.fc_features, lrn=self.lrn,
                              dropout_rate=self.dropout_rate, dtype=self.dtype,
                              param_dtype=self.param_dtype,
                              conv_matmul_grads=self.conv_matmul_grads)
      per_step = lambda net, x: net(x.reshape((-1,) + x.shape[2:]), train).reshape(
          x.shape[:2] + (-1,))
      rgb = per_step(cnn(name="spatial_cnn"), rgb)
      flow = per_step(cnn(name="flow_cnn"), flow)
    rnn = functools.partial(StreamRNN, self.rnn_hidden, self.cell, dtype=self.dtype,
                            param_dtype=self.param_dtype)
    joint = jnp.concatenate([rnn(name="spatial_rnn")(rgb, length),
                             rnn(name="flow_rnn")(flow, length)], axis=-1)
    dense = functools.partial(nn.Dense, dtype=self.dtype, param_dtype=self.param_dtype)
    logits = dense(self.num_classes, name="classifier")(joint)
    x = joint
    for i, features in enumerate(self.mlp_hidden):
      x = nn.relu(dense(features, name=f"mlp{i}")(x))
      x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    embedding = dense(self.embed_dim, name="embedding")(x)
    return {"embedding": embedding.astype(jnp.float32), "logits": logits.astype(jnp.float32)}


Model = Video2Vec
