"""Data: the shapes stand-in, the grain pipeline, and tfds imagenet2012 array_record builds
(reading, bad records named by shard file, damaged shards, data-dir errors)."""
import json
import os

import ml_collections
import numpy as np
import pytest

from conftest import write_tfds_build
from zoo.data import pipeline, shapes


def data_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="shapes", dir="", train_split="train", image_size=32, resize_ratio=9 / 8,
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


def imagenet_build(root):
  """A tfds imagenet2012 array_record build of 12 train records in 2 shards and 8
  validation records, with one undecodable image (train shard 1, record 2) and one image
  too small to use (validation record 3)."""
  rng = np.random.default_rng(0)
  record = lambda i, h=40: {"image": rng.integers(0, 256, (h + i, 50, 3), dtype=np.uint8),
                            "label": i * 77 % 1000, "file_name": f"n{i:05d}.JPEG"}
  train = [record(i) for i in range(12)]
  train[7]["image"] = b"not a JPEG at all"
  validation = [record(i) for i in range(12, 20)]
  validation[3]["image"] = np.zeros((4, 4, 3), np.uint8)
  return write_tfds_build(root, "imagenet2012", {
      "train": [train[:5], train[5:]], "validation": [validation]})


def test_imagenet_reads_a_tfds_array_record_build_and_names_bad_records_files(tmp_path):
  version_dir = imagenet_build(tmp_path)
  config = data_config(name="imagenet", dir=str(tmp_path), image_size=32, max_bad_fraction=0.5)
  train = pipeline.open_source(config, "train")
  assert len(train) == 12 and train.labels().tolist() == [i * 77 % 1000 for i in range(12)]
  train.check()
  batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=4))
  assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.uint8
  assert batch["label"].dtype == np.int32
  labels = [train[i]["label"] for i in range(12)]  # record 7 reads as the next good one
  assert labels[7] == 8 * 77 % 1000 and train.num_bad == 1
  assert train.examples()[0].startswith(
      f"{version_dir}/imagenet2012-train.array_record-00001-of-00002 record 2: ")
  val = pipeline.open_source(config, "validation", train=False)
  evals = list(pipeline.eval_batches(config, val, local_batch_size=4))
  assert len(evals) == 2 and sum(int(b["mask"].sum()) for b in evals) == 7
  assert val.examples() == [
      f"{version_dir}/imagenet2012-validation.array_record-00000-of-00001 record 3 "
      "(n00015.JPEG): BadRecordError: image of 4x4 pixels"]


def test_a_truncated_shard_is_found_by_check_naming_the_file(tmp_path):
  version_dir = imagenet_build(tmp_path)
  shard = f"{version_dir}/imagenet2012-validation.array_record-00000-of-00001"
  with open(shard, "r+b") as f:
    f.truncate(os.path.getsize(shard) // 2)
  val = pipeline.open_source(data_config(name="imagenet", dir=str(tmp_path)), "validation")
  with pytest.raises(ValueError) as e:
    val.check()
  assert str(e.value) == (
      f"split 'validation' of tfds 'imagenet2012': {shard} holds 0 readable records where the "
      "build wrote 8 (a truncated or damaged file); replace it from a fresh `tfds build`")


def data_dir_error(tmp_path, data, split="train"):
  with pytest.raises((FileNotFoundError, ValueError)) as e:
    pipeline.open_source(data_config(**data), split)
  return str(e.value).replace(str(tmp_path), "T")


def test_data_dir_errors_say_what_is_there_and_which_flag_to_change(tmp_path):
  build = "`tfds build imagenet2012 --data_dir={} --file_format=array_record`"
  assert data_dir_error(tmp_path, dict(name="imagenet", dir="")) == (
      "--config.data.dir is not set: tfds 'imagenet2012' is read from a prepared data dir; "
      f"build it with {build.format('DIR')} and pass --config.data.dir=DIR (or run a "
      "':synthetic' variant on stand-in data)")
  assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(tmp_path / "nowhere"))) == (
      "--config.data.dir='T/nowhere' does not exist")
  other = tmp_path / "other"
  write_tfds_build(other, "diabetic_retinopathy_detection", {"train": [[]]}, config="original")
  assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(other))) == (
      "--config.data.dir='T/other' has no tfds 'imagenet2012' (it holds "
      "diabetic_retinopathy_detection/original/3.0.0): point --config.data.dir at the data "
      f"dir that holds imagenet2012/, or build it with {build.format('T/other')}")
  imagenet_build(tmp_path)
  for inside in ("imagenet2012/5.1.0", "imagenet2012"):
    assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(tmp_path / inside))) == (
        f"--config.data.dir='T/{inside}' is a folder inside the tfds build "
        "imagenet2012/5.1.0; pass the data dir that holds it: --config.data.dir='T'")
  assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(tmp_path)), split="val") == (
      "tfds 'imagenet2012' (T/imagenet2012/5.1.0) has no split 'val'; its splits: train, "
      "validation")
  unfinished = tmp_path / "unfinished"
  (unfinished / "imagenet2012" / "5.1.0.incomplete7XQ2").mkdir(parents=True)
  assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(unfinished))) == (
      "T/unfinished/imagenet2012 holds no finished tfds build (no VERSION/dataset_info.json; "
      f"it holds: 5.1.0.incomplete7XQ2): run {build.format('T/unfinished')} again")
  tfrecord = tmp_path / "tfrecord"
  write_tfds_build(tfrecord, "imagenet2012", {"train": [[]]}, file_format="tfrecord")
  assert data_dir_error(tmp_path, dict(name="imagenet", dir=str(tfrecord))) == (
      "T/tfrecord/imagenet2012/5.1.0 was built as tfrecord, which cannot be read by index; "
      f"rebuild it with {build.format('T/tfrecord')} (or convert it: `tfds convert_format "
      "--dataset_version_dir=T/tfrecord/imagenet2012/5.1.0 --out_file_format=array_record`)")


def test_a_tfrecord_build_converted_to_array_record_is_read(tmp_path):
  version_dir = imagenet_build(tmp_path)  # as `tfds convert_format` leaves a tfrecord build:
  with open(f"{version_dir}/dataset_info.json") as f:
    info = json.load(f)
  info.update(fileFormat="tfrecord", alternativeFileFormats=["array_record"])
  with open(f"{version_dir}/dataset_info.json", "w") as f:
    json.dump(info, f)
  val = pipeline.open_source(data_config(name="imagenet", dir=str(tmp_path)), "validation")
  val.check()
  assert len(val) == 8 and val.source.locate(7) == (
      f"{version_dir}/imagenet2012-validation.array_record-00000-of-00001 record 7")


def test_train_batches_padded_to_the_devices_end_in_masked_rows():
  """5 examples in 8 rows: the same global batch on one process or two."""
  config = data_config()
  source = pipeline.open_source(config, "train")
  plain = next(pipeline.train_iterator(config, source, seed=3, local_batch_size=5))
  padded = next(pipeline.train_iterator(config, source, seed=3, local_batch_size=8,
                                        global_batch_size=5))
  assert "mask" not in plain and padded["image"].shape == (8, 32, 32, 3)
  np.testing.assert_array_equal(padded["mask"], [1, 1, 1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(padded["image"][:5], plain["image"])
  halves = [next(pipeline.train_iterator(config, source, seed=3, local_batch_size=4,
                                         global_batch_size=5, process_index=i,
                                         process_count=2)) for i in (0, 1)]
  for key in ("image", "label", "mask"):
    np.testing.assert_array_equal(np.concatenate([h[key] for h in halves]), padded[key])
