"""Evaluation batches of any size on any mesh (`zoo.evaluators`): a process's share of a
batch is padded with masked rows to its devices, and every evaluator's per-row results
come back whole, in the split's order, whatever `eval_batch_size` is."""
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from experiments import _gan
from zoo.data import pipeline
from zoo.evaluators import collect_over_split, over_rows, sum_over_split


@pytest.mark.parametrize("size, processes, devices, expected", [
    (50, 1, 8, (50, 56)), (50, 2, 4, (25, 28)), (30, 2, 4, (15, 16)), (64, 1, 8, (64, 64)),
    (7, 1, 1, (7, 7))])
def test_batch_rows_pads_each_process_share_to_its_devices(size, processes, devices, expected):
  assert pipeline.batch_rows(size, processes, devices) == expected


def evaluator(eval_batch_size):
  config = _gan.base_config(model=dict(name="gan_mlp"), data=dict(
      name="gaussian_mixture", mixture="ring", num_train=0, num_eval=150), minibatch=8)
  config.eval_batch_size = eval_batch_size
  sharding = NamedSharding(Mesh(np.asarray(jax.devices()), ("data",)), P("data"))
  to_device = lambda batch: jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
  return types.SimpleNamespace(config=config, to_device=to_device, process_index=0,
                               process_count=1,
                               source=pipeline.open_source(config.data, "test", train=False))


@jax.jit
def per_row(state, batch):
  return {"label": batch["label"] + state, "point": batch["point"]}


def test_any_eval_batch_size_gives_every_row_once_in_the_splits_order():
  assert len(jax.devices()) == 8
  source = evaluator(64).source
  records = [source[i] for i in range(len(source))]
  points = np.stack([r["point"] for r in records])
  for size in (50, 64):  # 50 is not a multiple of the eight devices
    e = evaluator(size)
    out, first = collect_over_split(e, 0, per_row, first=3)
    np.testing.assert_array_equal(out["index"], np.arange(len(source)))
    np.testing.assert_array_equal(out["label"], [r["label"] for r in records])
    np.testing.assert_array_equal(out["point"], points)
    np.testing.assert_array_equal(first["index"], [0, 1, 2])
    sums = sum_over_split(e, 0, jax.jit(lambda s, b: {
        "count": jnp.sum(b["mask"]), "x": jnp.sum(b["mask"] * b["point"][:, 0])}))
    assert sums["count"] == len(source)
    assert sums["x"] == pytest.approx(points[:, 0].sum(), rel=1e-5)


def test_over_rows_of_host_arrays_in_batches_of_any_size():
  noise = np.arange(123 * 2, dtype=np.float32).reshape(123, 2)
  for size in (50, 8):
    out = over_rows(evaluator(size), jax.jit(lambda b: {"double": 2 * b["noise"]}),
                    {"noise": noise})
    np.testing.assert_array_equal(out["double"], 2 * noise)
