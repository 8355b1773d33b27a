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


def train_iterator(data_config, source, *, seed: int, local_batch_size: int,
                   process_index: int = 0, process_count: int = 1):
  """An endless, checkpointable iterator of per-process training batches of `source`."""
  module = data_module(data_config)
  if len(source) < process_count * local_batch_size:
    raise ValueError(f"split '{data_config.train_split}' of data '{data_config.name}' has "
                     f"{len(source)} records, fewer than one global batch")
  # Shuffle and augment the whole split the same way in every process, then read this
  # process's rows of each global batch: global batch k is the same examples, crops and
  # row order whatever the number of processes.
  global_batch = local_batch_size * process_count
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
  ds = (grain.MapDataset.range(len(examples))
        .map(lambda i: examples[(i // local_batch_size) * global_batch + first_row
                                + i % local_batch_size])
        .batch(local_batch_size, drop_remainder=True))
  options = grain.ReadOptions(num_threads=data_config.num_threads,
                              prefetch_buffer_size=data_config.prefetch_batches)
  return iter(ds.to_iter_dataset(options))


def eval_batches(data_config, source, *, local_batch_size: int,
                 process_index: int = 0, process_count: int = 1, preprocess=None):
  """One pass over `source` in fixed-size batches with a 'mask' (1 real, 0 padding).

  Every process yields the same number of batches, so collective steps line up.
  `preprocess` (default: the data module's evaluation one) maps a record to an example.
  """
  module = data_module(data_config)
  # A caller's own `preprocess` (prediction on new files) pads sequences itself.
  lengths = None if preprocess else sequences.lengths_of(module, data_config, source)
  if lengths is not None:  # whole sequences, in order of length (zoo/data/sequences.py)
    yield from sequences.eval_batches(module, data_config, source, lengths,
                                      local_batch_size=local_batch_size,
                                      process_index=process_index, process_count=process_count)
    return
  shard = grain.MapDataset.source(source)[process_index::process_count]
  preprocess = preprocess or module.preprocess(data_config, train=False)
  shard = shard.random_map(lambda r, rng: None if r is None else preprocess(r, rng), seed=0)
  per_process = math.ceil(len(source) / process_count)
  num_batches = math.ceil(per_process / local_batch_size)
  it = iter(shard.to_iter_dataset(grain.ReadOptions(num_threads=data_config.num_threads)))
  template = None
  for _ in range(num_batches):
    records = [r for _, r in zip(range(local_batch_size), it)]
    template = template or records[0]
    mask = np.zeros(local_batch_size, np.float32)
    mask[:len(records)] = 1
    records += [template] * (local_batch_size - len(records))
    batch = {k: np.stack([r[k] for r in records]) for k in template}
    batch["mask"] = mask
    yield batch
