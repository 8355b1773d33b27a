"""Whole clips batched by length (`zoo.data.sequences`): the padding it costs at UCF101's
scale, the training order (a permutation per epoch, buckets agreed by every process,
resumable), and whole prepared clips of the real-format tree through the pipeline."""
import ml_collections
import numpy as np

import ucf101_tree
from benchmarks.video2vec_lengths import ucf101_like_lengths
from zoo.data import pipeline, sequences, ucf101


def test_buckets_are_multiples_of_8_four_per_octave():
  sizes, length = [], 1
  while length <= 400:
    sizes.append(sequences.bucket(length))
    length = sizes[-1] + 1
  assert sizes == [8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 184, 216, 256, 312,
                   368, 432]
  assert sequences.bucket(72) == 80 and sequences.bucket(710) == 728
  assert sequences.bucket(72, per_octave=1) == 128


def test_padding_of_whole_ucf101_clips_at_batch_30():
  lengths = ucf101_like_lengths()
  assert 70 < lengths.mean() < 75
  order, pads = sequences.train_order(lengths, seed=0, epoch=0, global_batch=30)
  padding = sequences.padding_fraction(lengths, order, pads, 30)
  assert padding < 0.13, padding
  assert len(set(pads.tolist())) <= 20  # compilations of the train step
  # without sorting by length (each batch padded to its bucket) it would be 70% padding;
  # padded to the longest clip, 90%
  unsorted, _ = sequences.train_order(lengths, seed=0, epoch=0, global_batch=30,
                                      pool_batches=1)
  shuffled = np.random.default_rng(0).permutation(len(lengths))[:len(order)]
  shuffled_pads = np.asarray([sequences.bucket(lengths[shuffled[k:k + 30]].max())
                              for k in range(0, len(shuffled), 30)])
  assert sequences.padding_fraction(lengths, shuffled, shuffled_pads, 30) > 0.6
  assert 1 - lengths.mean() / sequences.bucket(lengths.max()) > 0.85
  assert sequences.padding_fraction(lengths, unsorted, _, 30) > padding
  # the old cap of 25 steps fed a third of the steps (and 1.5% padding)
  assert np.minimum(lengths, 25).sum() / lengths.sum() < 0.36


def test_train_order_is_a_permutation_per_epoch_and_a_function_of_seed_and_epoch():
  lengths = np.random.default_rng(1).integers(2, 60, 103)
  first, pads = sequences.train_order(lengths, seed=3, epoch=0, global_batch=8, pool_batches=4)
  assert len(first) == 96 and len(set(first.tolist())) == 96 and len(pads) == 12
  for k, pad in enumerate(pads):
    batch = lengths[first[8 * k:8 * k + 8]]
    assert batch.max() <= pad == sequences.bucket(batch.max())
  again, _ = sequences.train_order(lengths, seed=3, epoch=0, global_batch=8, pool_batches=4)
  np.testing.assert_array_equal(first, again)
  second, _ = sequences.train_order(lengths, seed=3, epoch=1, global_batch=8, pool_batches=4)
  assert not np.array_equal(first, second)


def clips_config(dst, **overrides):
  config = ml_collections.ConfigDict(dict(
      name="ucf101", dir=dst, split_index=1, train_split="train", classes=(), max_steps=0,
      flow_stack=2, image_size=32, resize_size=40, max_bad_fraction=0.5, num_threads=2,
      prefetch_batches=2, seed=0, buckets_per_octave=4, bucket_pool=2))
  config.update(overrides)
  return config


def test_whole_prepared_clips_in_buckets_resume_and_evaluate():
  _, dst = ucf101_tree.prepared()
  config = clips_config(dst)
  source = pipeline.open_source(config, "train")
  lengths = ucf101.sequence_lengths(config, source.source)
  assert [len(source[i]["rgb"]) for i in range(len(source))] == lengths  # the manifest's
  assert min(lengths) < 8 < max(lengths)  # tree clips of 4 to 12 steps: buckets 8 and 16
  it = pipeline.train_iterator(config, source, seed=0, local_batch_size=2, process_count=2,
                               process_index=1)
  batches = [next(it) for _ in range(4)]
  state = it.get_state()
  following = [next(it) for _ in range(3)]
  assert {b["rgb"].shape[1] for b in batches + following} == {8, 16}
  for b in batches + following:
    assert b["flow"].shape[:2] == b["rgb"].shape[:2] and b["length"].max() <= b["rgb"].shape[1]
    for row, length in enumerate(b["length"]):  # whole clips, zeros after their end
      assert length in lengths and not b["rgb"][row, length:].any()
  resumed = pipeline.train_iterator(config, source, seed=0, local_batch_size=2,
                                    process_count=2, process_index=1)
  resumed.set_state(state)
  for a, b in zip(following, [next(resumed) for _ in range(3)]):
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])
  # evaluation: every clip once, in batches of similar length, the rest masked
  test = pipeline.open_source(config, "test", train=False)
  batches = list(pipeline.eval_batches(config, test, local_batch_size=2))
  assert sum(b["mask"].sum() for b in batches) == len(test)
  seen = sorted(int(l) for b in batches for l, m in zip(b["length"], b["mask"]) if m)
  assert seen == sorted(ucf101.sequence_lengths(config, test.source))
  assert [b["rgb"].shape[1] for b in batches] == sorted(b["rgb"].shape[1] for b in batches)


def test_a_cap_logs_the_effective_frame_rate(caplog):
  _, dst = ucf101_tree.prepared()
  config = clips_config(dst, max_steps=6)
  source = pipeline.open_source(config, "train")
  lengths = np.asarray(ucf101.sequence_lengths(config, source.source))
  with caplog.at_level("WARNING"):
    pipeline.train_iterator(config, source, seed=0, local_batch_size=2)
  rate = 10 * np.mean(np.minimum(lengths, 6) / lengths)
  assert (f"data.max_steps=6 caps the sequences: {np.sum(lengths > 6)} of {len(lengths)} are "
          "longer") in caplog.text
  assert f"an effective {rate:.2f} fps of the prepared 10 fps" in caplog.text
