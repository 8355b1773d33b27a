"""Batches of sequences of varying length (Video2Vec's clips): whole sequences, padded and
masked by their length, with sequences of similar length batched together.

A data module of sequences gives `sequence_lengths(data_config, source)` (each record's
number of time steps, read from an index: nothing is decoded) and a `preprocess` whose
function takes `pad_to=` (the steps it pads to, and keeps at most). With
`data.max_steps` > 0 each sequence is capped at that many steps and padded to it: one
shape, the pipeline's usual path (`capped` logs the effective frame rate). With
`data.max_steps=0` every step is kept and:

- training (`train_order`): each epoch is a permutation of the records (from the seed and
  the epoch alone), cut into pools of `data.bucket_pool` global batches; a pool is sorted
  by length and cut into global batches, and the epoch's batches are shuffled. A global
  batch is padded to the smallest bucket (`bucket`) that holds its longest sequence, the
  same in every process. The iterator's state is its position, so it checkpoints and
  resumes exactly, on any number of processes.
- evaluation (`eval_batches`): the split in order of length, each global batch padded to
  its bucket, rows past the end and bad records masked out.

Buckets are multiples of 8, `data.buckets_per_octave` of them per doubling of the length
(4: 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 184, 216, 256, 312, ...): the
train step compiles once per bucket used, and rounding a batch up to its bucket costs
about 1 - (1 - 2^(-1/4)) / ln(2^(1/4)) ~ 8% padding on average (4 per octave).
"""
import functools
import math

import grain
import numpy as np
from absl import logging

BUCKET_POOL = 100  # global batches sorted together
BUCKETS_PER_OCTAVE = 4


def bucket(length: int, per_octave: int = BUCKETS_PER_OCTAVE) -> int:
  """The smallest bucket holding `length` steps (see the module docstring)."""
  base = 8
  while True:
    for j in range(per_octave):
      size = 8 * math.ceil(base * 2 ** (j / per_octave) / 8 - 1e-9)
      if size >= length:
        return size
    base *= 2


def lengths_of(module, data_config, source):
  """Each record's step count when whole sequences are batched (`data.max_steps=0` and a
  module with `sequence_lengths`), else None (fixed shapes)."""
  if not hasattr(module, "sequence_lengths") or data_config.get("max_steps", 1):
    return None
  return np.asarray(module.sequence_lengths(data_config, getattr(source, "source", source)),
                    np.int64)


def capped(module, data_config, source):
  """Logs what `data.max_steps` > 0 keeps of each sequence: how many are longer and the
  effective frame rate (the module's `steps_per_second`) that remains."""
  cap = int(data_config.get("max_steps", 0))
  if not cap or not hasattr(module, "sequence_lengths"):
    return
  lengths = np.asarray(module.sequence_lengths(data_config, getattr(source, "source", source)))
  if not len(lengths):
    return
  kept = np.minimum(lengths, cap) / np.maximum(lengths, 1)
  rate = module.steps_per_second(data_config) if hasattr(module, "steps_per_second") else None
  logging.warning(
      "data.max_steps=%d caps the sequences: %d of %d are longer (mean length %.1f steps); a "
      "sequence keeps %.0f%% of its steps on average%s; --config.data.max_steps=0 keeps them all",
      cap, int(np.sum(lengths > cap)), len(lengths), float(lengths.mean()),
      100 * float(kept.mean()),
      f": an effective {rate * kept.mean():.2f} fps of the prepared {rate:g} fps" if rate else "")


def train_order(lengths, *, seed: int, epoch: int, global_batch: int,
                pool_batches: int = BUCKET_POOL, per_octave: int = BUCKETS_PER_OCTAVE):
  """(record indices of the epoch in order, the bucket of each global batch)."""
  lengths = np.asarray(lengths)
  rng = np.random.default_rng([seed, epoch, 1729])
  num_batches = len(lengths) // global_batch
  records = rng.permutation(len(lengths))[:num_batches * global_batch]
  batches = []
  pool = pool_batches * global_batch
  for start in range(0, len(records), pool):
    chunk = records[start:start + pool]
    chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
    batches += [chunk[k:k + global_batch] for k in range(0, len(chunk), global_batch)]
  batches = [batches[k] for k in rng.permutation(len(batches))]
  pads = np.asarray([bucket(int(lengths[b].max()), per_octave) for b in batches], np.int64)
  order = np.concatenate(batches) if batches else np.zeros(0, np.int64)
  return order, pads


def padding_fraction(lengths, order, pads, global_batch: int) -> float:
  """The share of padded (masked) steps in the batches of `order`."""
  real = float(np.sum(np.asarray(lengths)[order]))
  return 1.0 - real / float(np.sum(pads) * global_batch)


def train_examples(module, data_config, source, lengths, *, seed: int, global_batch: int):
  """Endless MapDataset of preprocessed training examples in global-batch order (see the
  module docstring); example i belongs to global batch i // global_batch."""
  pool = int(data_config.get("bucket_pool", BUCKET_POOL))
  per_octave = int(data_config.get("buckets_per_octave", BUCKETS_PER_OCTAVE))
  per_epoch = (len(lengths) // global_batch) * global_batch

  @functools.lru_cache(maxsize=2)
  def epoch_order(epoch):
    return train_order(lengths, seed=seed, epoch=epoch, global_batch=global_batch,
                       pool_batches=pool, per_octave=per_octave)

  order, pads = epoch_order(0)
  logging.info("whole sequences: %d to %d steps (mean %.1f); the first epoch's batches use %d "
               "buckets (%s steps), %.1f%% of their steps padding", int(lengths.min()),
               int(lengths.max()), float(lengths.mean()), len(set(pads.tolist())),
               ", ".join(map(str, sorted(set(pads.tolist())))),
               100 * padding_fraction(lengths, order, pads, global_batch))

  def at(i, _):
    order, pads = epoch_order(i // per_epoch)
    j = i % per_epoch
    return source[int(order[j])], int(pads[j // global_batch])

  preprocess = module.preprocess(data_config, train=True)
  return (grain.MapDataset.range(per_epoch).repeat()
          .map_with_index(at)
          .seed(seed)
          .random_map(lambda x, rng: preprocess(x[0], rng, pad_to=x[1])))


def eval_batches(module, data_config, source, lengths, *, local_batch_size: int,
                 process_index: int, process_count: int, padded_batch_size: int = 0,
                 with_index: bool = False):
  """One pass over `source` in order of length, in batches of `local_batch_size` records
  (padded with masked rows to `padded_batch_size`) with a 'mask' and, `with_index`, each
  row's 'index' in `source`; global batch k is padded to the bucket of its longest
  sequence."""
  per_octave = int(data_config.get("buckets_per_octave", BUCKETS_PER_OCTAVE))
  order = np.argsort(lengths, kind="stable")
  global_batch = local_batch_size * process_count
  num_batches = math.ceil(len(order) / global_batch)
  pads = [bucket(int(lengths[order[k * global_batch:(k + 1) * global_batch]].max()), per_octave)
          for k in range(num_batches)]
  preprocess = module.preprocess(data_config, train=False)

  def read(slot, rng):
    k, row = divmod(slot, local_batch_size)
    position = k * global_batch + process_index * local_batch_size + row
    record = source[int(order[position])] if position < len(order) else None
    if record is None:
      return {"example": None}
    example = preprocess(record, rng, pad_to=pads[k])
    return {"example": {**example, "index": np.int32(order[position])} if with_index
            else example}

  slots = grain.MapDataset.range(num_batches * local_batch_size).random_map(read, seed=0)
  it = iter(slots.to_iter_dataset(grain.ReadOptions(num_threads=data_config.num_threads)))
  template = None
  for k in range(num_batches):
    rows = [next(it)["example"] for _ in range(local_batch_size)]
    rows += [None] * (padded_batch_size - local_batch_size)
    mask = np.asarray([r is not None for r in rows], np.float32)
    real = [r for r in rows if r is not None]
    if real:
      template = real[0]
    elif template is None:  # nothing read yet: any good record of the split as the shape
      template = next(preprocess(r, np.random.default_rng(0), pad_to=pads[k])
                      for r in (source[int(i)] for i in order) if r is not None)
      if with_index:
        template = {**template, "index": np.int32(0)}
    blank = {key: _blank(v, pads[k]) for key, v in template.items()}
    rows = [r if r is not None else blank for r in rows]
    batch = {key: np.stack([r[key] for r in rows]) for key in template}
    batch["mask"] = mask
    yield batch


def _blank(x, steps: int):
  """Zeros for a masked row: like `x`, its time axis (the first, if any) `steps` long."""
  return np.zeros((steps,) + x.shape[1:] if x.ndim else (), x.dtype)
