"""What several evaluators share. An evaluator reads `config`, `source`, `to_device`,
`process_index` and `process_count` from itself (see WORKSPACE.md).

Any `config.eval_batch_size` runs on any mesh: each process takes its share of a batch
(`pipeline.batch_rows`), padded with masked rows to a multiple of its devices. Per-row
results are gathered from every process (`gather`), so every process computes the
metrics from the same rows.
"""
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.experimental import multihost_utils

from zoo.data import pipeline


def check_split(name: str, data_config, split: str, source) -> int:
  """Before training: `split`'s files are readable (`source.check()`) and it holds records
  (its count, logged). An empty split stops the run, naming it and, where the data module
  can say (`empty_reason(data_config, split)`), the rule or fraction that emptied it."""
  source.check()
  count = len(source)
  if count:
    logging.info("%s: split '%s' holds %d records", name, split, count)
    return count
  why = getattr(pipeline.data_module(data_config), "empty_reason", None)
  reason = why(data_config, split) if why else ""
  raise ValueError(f"{name}: split '{split}' of data '{data_config.name}' has no records"
                   + (f": {reason}" if reason else ""))


def rows(evaluator):
  """(real rows, rows with padding) of this process's share of an evaluation batch."""
  return pipeline.batch_rows(evaluator.config.eval_batch_size, evaluator.process_count,
                             jax.local_device_count())


def batches(evaluator, source=None, *, with_index: bool = False):
  """One pass of `source` (default the evaluator's) in this process's padded batches."""
  real, padded = rows(evaluator)
  return pipeline.eval_batches(
      evaluator.config.data, evaluator.source if source is None else source,
      local_batch_size=real, padded_batch_size=padded, with_index=with_index,
      process_index=evaluator.process_index, process_count=evaluator.process_count)


def gather(tree):
  """Global arrays (or per-process host arrays) -> host arrays of every process's rows,
  process by process."""
  if jax.process_count() > 1:
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def sum_over_split(evaluator, state, sums_fn):
  """Adds `sums_fn(state, device batch)` over one pass of the evaluator's source."""
  total = None
  for batch in batches(evaluator):
    out = sums_fn(state, evaluator.to_device(batch))
    total = out if total is None else jax.tree.map(jnp.add, total, out)
  return jax.device_get(total)


def collect_over_split(evaluator, state, rows_fn, source=None, *, first=0):
  """({name: [N, ...]} of `rows_fn(state, device batch)` for every good record of the split,
  all processes' rows in the split's order, with 'index' (the record's), the first `first`
  rows of this process's first host batch (with their 'index'), or None)."""
  parts, kept = [], None
  for batch in batches(evaluator, source, with_index=True):
    index = batch.pop("index")
    if first and kept is None:
      kept = {k: v[:first] for k, v in {**batch, "index": index}.items()}
    out = gather(rows_fn(state, evaluator.to_device(batch)))
    parts.append({**out, **gather({"index": index, "mask": batch["mask"]})})
  if not parts:
    return {}, kept
  out = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
  real = out.pop("mask") > 0
  order = np.argsort(out["index"][real], kind="stable")
  return {k: v[real][order] for k, v in out.items()}, kept


def over_rows(evaluator, fn, arrays: dict):
  """`fn(device batch)` over host arrays every process holds in full (noise, chosen
  faces), in global batches of `eval_batch_size`: each process feeds its share, padded to
  its devices; returns the host outputs of every row, in order."""
  real, padded = rows(evaluator)
  n = len(next(iter(arrays.values())))
  step = real * evaluator.process_count
  mine = slice(evaluator.process_index * real, (evaluator.process_index + 1) * real)
  outs = []
  for start in range(0, n, step):
    local = {k: v[start:start + step][mine] for k, v in arrays.items()}
    count = len(next(iter(local.values())))
    local = {k: np.concatenate([v, np.zeros((padded - count,) + v.shape[1:], v.dtype)])
             for k, v in local.items()}
    out = gather(fn(evaluator.to_device(local)))
    # rows [p * padded, p * padded + real) came from process p's share
    outs.append(jax.tree.map(
        lambda v: np.asarray(v).reshape((evaluator.process_count, padded) + v.shape[1:])[
            :, :real].reshape((-1,) + v.shape[1:])[:min(step, n - start)], out))
  return jax.tree.map(lambda *a: np.concatenate(a), *outs)
