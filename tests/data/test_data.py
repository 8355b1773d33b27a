"""Data: the shapes stand-in, the grain pipeline, and tfds imagenet2012 through mock data."""
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

from zoo.data import pipeline, shapes


def data_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="shapes", dir="", train_split="train", image_size=32, resize_size=36,
      train_crop="random", min_crop_area=0.08, color_jitter=0.0, eval_crops="center", random_flip=True, num_threads=2, prefetch_batches=2,
      seed=0, num_train=40, num_eval=10, max_bad_fraction=0.0))
  config.update(overrides)
  return config


def test_shapes_are_deterministic_balanced_and_split_apart():
  a, b = shapes.draw(0, "train", 7, 32), shapes.draw(0, "train", 7, 32)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].shape == (32, 32, 3) and a["image"].dtype == np.uint8
  assert not np.array_equal(a["image"], shapes.draw(0, "test", 7, 32)["image"])
  assert not np.array_equal(a["image"], shapes.draw(1, "train", 7, 32)["image"])
  labels = [shapes.draw(0, "train", i, 8)["label"] for i in range(50)]
  assert np.bincount(labels).tolist() == [5] * shapes.NUM_CLASSES


def test_train_iterator_shards_batches_and_resumes_from_state():
  config = data_config()
  it = pipeline.train_iterator(config, pipeline.open_source(config, "train"), seed=3, local_batch_size=4, process_index=1, process_count=2)
  first = next(it)
  assert first["image"].shape == (4, 32, 32, 3) and first["label"].dtype == np.int32
  state = it.get_state()
  expected = [next(it)["image"] for _ in range(7)]  # crosses an epoch of the 20-record shard
  again = pipeline.train_iterator(config, pipeline.open_source(config, "train"), seed=3, local_batch_size=4, process_index=1, process_count=2)
  again.set_state(state)
  for want in expected:
    np.testing.assert_array_equal(next(again)["image"], want)


def test_process_shards_are_disjoint_and_cover_the_split():
  config = data_config(num_train=12, train_crop="center", random_flip=False)
  labels_seen = []
  for index in range(3):
    it = pipeline.train_iterator(config, pipeline.open_source(config, "train"), seed=0,
                                 local_batch_size=4, process_index=index, process_count=3)
    labels_seen.append(next(it)["label"])
  # each shard holds indices index, index+3, ...: labels (index % 10) differ between shards
  assert sorted(np.concatenate(labels_seen).tolist()) == sorted(i % 10 for i in range(12))


def test_eval_batches_pad_with_a_mask():
  config = data_config(num_eval=10)
  batches = list(pipeline.eval_batches(config, pipeline.open_source(config, "test"),
                                       local_batch_size=4))
  assert len(batches) == 3
  assert [b["mask"].sum() for b in batches] == [4, 4, 2]
  assert batches[0]["image"].shape == (4, 32, 32, 3)


def test_imagenet_reads_through_tfds_data_source_and_grain():
  # tfds mock images have random sizes, some under 8 pixels: those count as bad records.
  config = data_config(name="imagenet", image_size=224, resize_size=256, max_bad_fraction=0.5)
  with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
    train = pipeline.open_source(config, "train")
    assert len(train) == 12
    batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=4))
    val = pipeline.open_source(config, "validation", train=False)
    evals = list(pipeline.eval_batches(config, val, local_batch_size=8))
  assert batch["image"].shape == (4, 224, 224, 3) and batch["image"].dtype == np.uint8
  assert batch["label"].shape == (4,) and ((0 <= batch["label"]) & (batch["label"] < 1000)).all()
  assert len(evals) == 2 and sum(int(b["mask"].sum()) for b in evals) == 12 - val.num_bad


def test_missing_imagenet_dir_names_the_flag(tmp_path):
  config = data_config(name="imagenet", dir=str(tmp_path))
  try:
    pipeline.open_source(config, "train")
  except FileNotFoundError as e:
    assert "--config.data.dir" in str(e) and str(tmp_path) in str(e)
  else:
    raise AssertionError("expected FileNotFoundError")
