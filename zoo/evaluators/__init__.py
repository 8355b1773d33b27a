"""What several evaluators share. An evaluator reads `config`, `source`, `to_device`,
`process_index` and `process_count` from itself (see WORKSPACE.md)."""
import jax
import jax.numpy as jnp
from absl import logging

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


def sum_over_split(evaluator, state, sums_fn):
  """Adds `sums_fn(state, device batch)` over one pass of the evaluator's source."""
  total = None
  for batch in pipeline.eval_batches(
      evaluator.config.data, evaluator.source,
      local_batch_size=evaluator.config.eval_batch_size // evaluator.process_count,
      process_index=evaluator.process_index, process_count=evaluator.process_count):
    out = sums_fn(state, evaluator.to_device(batch))
    total = out if total is None else jax.tree.map(jnp.add, total, out)
  return jax.device_get(total)
