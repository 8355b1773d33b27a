"""grain pipelines shared by every experiment: a data module (`zoo.data.<name>`) gives a
random-access `source(data_config, split)` and `preprocess(data_config, train)`; this
module shards, shuffles, augments and batches them.

Each process reads its own share of every global batch; the loop turns the per-process
batches into global arrays.
"""
import functools
import importlib
import math

import grain
import numpy as np

from zoo.data import bad_records, sequences


def data_module(data_config):
  return importlib.import_module(f"zoo.data.{data_config.name}")


def num_classes(module, data_config) -> int:
  """`module.NUM_CLASSES`, or `module.num_classes(data_config)` where the data decides it."""
  if hasattr(module, "num_classes"):
    return module.num_classes(data_config)
  return module.NUM_CLASSES


def is_stand_in(module, data_config) -> bool:
  """`module.stand_in(data_config)` where the data decides it (a prepared dir says whether
  it holds a stand-in), else `module.STAND_IN`."""
  if hasattr(module, "stand_in") and callable(module.stand_in):
    return bool(module.stand_in(data_config))
  return bool(module.STAND_IN)


def open_source(data_config, split: str, *, train: bool = True) -> bad_records.GuardedSource:
  """The split's records, with bad ones counted and reported where they are stored (the
  source's `locate(index)`, if it has one: a file, or a shard file and index); in training
  they are replaced by the next good record, in evaluation (`train=False`) left out."""
  module = data_module(data_config)
  source = module.source(data_config, split)
  return bad_records.GuardedSource(
      source, functools.partial(module.validate, data_config),
      name=f"{data_config.name}:{split}", max_bad_fraction=data_config.max_bad_fraction,
      locate=getattr(source, "locate", None), substitute=train)


def batch_rows(batch_size: int, process_count: int, local_devices: int):
  """(real rows, rows with padding) of each process's share of a global batch of
  `batch_size`: split over the processes (rounded up), then padded with masked rows to a
  multiple of the process's devices, so a batch of any size runs on any mesh."""
  real = -(-batch_size // process_count)
  return real, -(-real // local_devices) * local_devices


def _pad(records, size: int):
  """Stacks `records` into one batch of `size` rows, the missing ones copies of the first,
  with 'mask' (1 real, 0 padding)."""
  mask = np.zeros(size, np.float32)
  mask[:len(records)] = 1
  records = list(records) + [records[0]] * (size - len(records))
  batch = {k: np.stack([r[k] for r in records]) for k in records[0]}
  batch["mask"] = mask
  return batch


def train_iterator(data_config, source, *, seed: int, local_batch_size: int,
                   process_index: int = 0, process_count: int = 1,
                   global_batch_size: int = 0):
  """An endless, checkpointable iterator of per-process training batches of `source`:
  `local_batch_size` rows of each global batch of `global_batch_size` examples (default
  all of them). Where the processes' rows outnumber the examples, the last rows of the
  global batch are padding, marked by a 'mask' (0), for tasks whose loss averages over the
  real rows only; the global batch is then the same array whatever the process count."""
  module = data_module(data_config)
  rows = local_batch_size * process_count
  global_batch = global_batch_size or rows
  if len(source) < global_batch:
    raise ValueError(f"split '{data_config.train_split}' of data '{data_config.name}' has "
                     f"{len(source)} records, fewer than one global batch")
  # Shuffle and augment the whole split the same way in every process, then read this
  # process's rows of each global batch: global batch k is the same examples, crops and
  # row order whatever the number of processes.
  lengths = sequences.lengths_of(module, data_config, source)
  if lengths is None:
    sequences.capped(module, data_config, source)
    examples = (grain.MapDataset.source(source)
                .seed(seed)
                .shuffle()
                .repeat()
                .random_map(module.preprocess(data_config, train=True)))
  else:  # whole sequences, batched by length (zoo/data/sequences.py)
    examples = sequences.train_examples(module, data_config, source, lengths, seed=seed,
                                        global_batch=global_batch)
  first_row = process_index * local_batch_size
  padded = global_batch < rows

  def row(i):
    k, r = divmod(i, local_batch_size)
    real = first_row + r < global_batch
    record = examples[k * global_batch + (first_row + r if real else 0)]
    return {**record, "mask": np.float32(real)} if padded else record

  ds = (grain.MapDataset.range(len(examples))
        .map(row)
        .batch(local_batch_size, drop_remainder=True))
  options = grain.ReadOptions(num_threads=data_config.num_threads,
                              prefetch_buffer_size=data_config.prefetch_batches)
  return iter(ds.to_iter_dataset(options))


def eval_batches(data_config, source, *, local_batch_size: int,
                 process_index: int = 0, process_count: int = 1,
                 padded_batch_size: int = 0, with_index: bool = False, preprocess=None):
  """One pass over this process's records of `source` (every `process_count`-th) in
  batches of `local_batch_size` records, padded to `padded_batch_size` rows (at least
  `local_batch_size`), with a 'mask' (1 real, 0 padding) and, `with_index`, each row's
  'index' in `source`.

  Every process yields the same number of batches, so collective steps line up.
  `preprocess` (default: the data module's evaluation one) maps a record to an example.
  """
  module = data_module(data_config)
  # A caller's own `preprocess` (prediction on new files) pads sequences itself.
  lengths = None if preprocess else sequences.lengths_of(module, data_config, source)
  if lengths is not None:  # whole sequences, in order of length (zoo/data/sequences.py)
    yield from sequences.eval_batches(module, data_config, source, lengths,
                                      local_batch_size=local_batch_size,
                                      padded_batch_size=padded_batch_size, with_index=with_index,
                                      process_index=process_index, process_count=process_count)
    return
  preprocess = preprocess or module.preprocess(data_config, train=False)

  def read(i, rng):
    record = source[i]
    if record is None:
      return None
    record = preprocess(record, rng)
    return {**record, "index": np.int32(i)} if with_index else record

  shard = grain.MapDataset.range(len(source))[process_index::process_count]
  shard = shard.random_map(read, seed=0)
  per_process = math.ceil(len(source) / process_count)
  num_batches = math.ceil(per_process / local_batch_size)
  size = max(padded_batch_size, local_batch_size)
  it = iter(shard.to_iter_dataset(grain.ReadOptions(num_threads=data_config.num_threads)))
  template = None
  for _ in range(num_batches):
    records = [r for _, r in zip(range(local_batch_size), it)]
    template = template or records[0]
    batch = _pad(records or [template], size)
    if not records:  # this process has no records left: a batch of padding
      batch["mask"][:] = 0
    yield batch
