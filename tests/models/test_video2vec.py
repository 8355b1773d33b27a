"""Video2Vec's network: masking, sizes, both input paths."""
import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings, strategies as st

from zoo.models.video2vec import Video2Vec

SMALL = dict(num_classes=5, embed_dim=8, rnn_hidden=16, mlp_hidden=(12,))


def _init(model, *inputs):
  return model.init({"params": jax.random.key(0), "dropout": jax.random.key(1)}, *inputs)


def test_mlp_and_heads_have_the_papers_sizes():
  # Joined states 2 x 1024 -> 1200 -> 500 (the paper's 500-d word vectors).
  model = Video2Vec(num_classes=101, embed_dim=500)
  x = jnp.zeros((1, 3, 16), jnp.float32)
  params = jax.eval_shape(lambda: _init(model, x, x, jnp.ones(1, jnp.int32)))["params"]
  count = lambda tree: sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))
  assert count(params["mlp0"]) + count(params["embedding"]) == 2048 * 1200 + 1200 + 1200 * 500 + 500
  assert count(params["classifier"]) == 2048 * 101 + 101
  # An LSTM of 1024 on 16-d inputs: 4 gates x (16 + 1024 inputs + bias) x 1024.
  assert count(params["spatial_rnn"]) == 4 * (16 * 1024 + 1024 * 1024 + 1024)


_APPLY = {}


def _masked_model(cell):
  """(jitted apply, variables) of a small model, compiled once per cell type."""
  if cell not in _APPLY:
    model = Video2Vec(**SMALL, cell=cell)
    x = jnp.zeros((2, 7, 10), jnp.float32)
    _APPLY[cell] = jax.jit(model.apply), _init(model, x, x, jnp.ones(2, jnp.int32))
  return _APPLY[cell]


@settings(max_examples=10, deadline=None)
@given(lengths=st.lists(st.integers(1, 7), min_size=2, max_size=2),
       pad_value=st.floats(-100, 100), cell=st.sampled_from(["lstm", "gru"]))
def test_padded_steps_change_nothing(lengths, pad_value, cell):
  apply, variables = _masked_model(cell)
  rng = np.random.default_rng(0)
  rgb, flow = (jnp.asarray(rng.normal(size=(2, 7, 10)), jnp.float32) for _ in range(2))
  length = jnp.asarray(lengths, jnp.int32)
  step = jnp.arange(7)[None, :, None] < length[:, None, None]
  garbage = lambda x: jnp.where(step, x, pad_value)
  out, padded = apply(variables, rgb, flow, length), apply(variables, garbage(rgb),
                                                            garbage(flow), length)
  np.testing.assert_allclose(out["embedding"], padded["embedding"], atol=1e-5)
  np.testing.assert_allclose(out["logits"], padded["logits"], atol=1e-5)


def test_a_padded_sequence_embeds_as_the_unpadded_one():
  apply, variables = _masked_model("lstm")
  model = Video2Vec(**SMALL)
  x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 7, 10)), jnp.float32)
  out = apply(variables, x, x, jnp.array([3, 7]))
  alone = model.apply(variables, x[:1, :3], x[:1, :3], jnp.array([3]))
  np.testing.assert_allclose(out["embedding"][0], alone["embedding"][0], atol=1e-5)
  assert not np.allclose(out["embedding"][0], out["embedding"][1], atol=1e-3)


def test_end_to_end_from_frames_has_both_cnns():
  model = Video2Vec(**SMALL, freeze_cnn=False, fc_features=32)
  rgb = jnp.zeros((2, 3, 64, 64, 3), jnp.float32)
  flow = jnp.zeros((2, 3, 64, 64, 10), jnp.float32)
  length = jnp.array([3, 2])
  variables = jax.eval_shape(lambda: _init(model, rgb, flow, length))
  assert {"spatial_cnn", "flow_cnn"} <= set(variables["params"])
  assert variables["params"]["flow_cnn"]["conv1"]["kernel"].shape == (11, 11, 10, 64)
  assert variables["params"]["spatial_rnn"]["OptimizedLSTMCell_0"]["ii"]["kernel"].shape == (32, 16)  # fc7 in
  out = jax.eval_shape(model.apply, variables, rgb, flow, length)
  assert out["embedding"].shape == (2, 8) and out["logits"].shape == (2, 5)


def test_describe_lists_both_rnns_and_counts_the_papers_network():
  from launch import config as config_lib, describe  # pylint: disable=import-outside-toplevel
  rows, totals = describe.describe(config_lib.resolve("video2vec"))
  by_path = {r.path: r for r in rows}
  lstm = 4 * (4096 + 1024 + 1) * 1024  # gates x (fc7 + hidden + bias) x hidden
  assert by_path["spatial_rnn"].params == by_path["flow_rnn"].params == lstm
  assert by_path["embedding"].output == (50,)  # GloVe 6B 50-d
  assert totals["params"] == 2 * lstm + 2048 * 101 + 101 + 2048 * 1200 + 1200 + 1200 * 50 + 50
  assert totals["inputs"] == [(72, 4096), (72, 4096), ()]  # whole clips: UCF101's mean
