"""What several evaluators share. An evaluator reads `config`, `source`, `to_device`,
`process_index` and `process_count` from itself (see WORKSPACE.md)."""
import jax
import jax.numpy as jnp

from zoo.data import pipeline


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
