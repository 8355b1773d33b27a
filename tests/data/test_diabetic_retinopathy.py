"""Diabetic retinopathy data: the disc crop, tfds diabetic_retinopathy_detection array_record
builds, and the fundus stand-in (determinism, grades, lesions, speed)."""
import time

import ml_collections
import numpy as np
import pytest

from conftest import write_tfds_build
from zoo.data import bad_records, fundus, pipeline
from zoo.data import diabetic_retinopathy as dr


def data_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="fundus", dir="", tfds_config="250K", train_split="train", image_size=64,
      random_flip=True, random_rotation=10.0, random_brightness=0.1, num_threads=2,
      prefetch_batches=2, seed=0, num_train=40, num_eval=10, max_bad_fraction=0.0))
  config.update(overrides)
  return config


def photograph(height, width, centre, radius, seed=0):
  """A fundus-like disc (bright centre, dim rim) on a noisy black frame, with salt noise
  and a bright mark in the surround (as photographs have), uint8."""
  rng = np.random.default_rng(seed)
  yy, xx = np.mgrid[:height, :width] + 0.5
  r = np.hypot(yy - centre[0], xx - centre[1]) / radius
  disc = np.where(r <= 1, 180 * (1 - 0.6 * r ** 2), 0)
  image = disc[..., None] * np.array([1.0, 0.45, 0.2]) + rng.normal(0, 4, (height, width, 3))
  image[rng.random((height, width)) < 0.005] = 255  # salt noise
  image[2:6, 2:12] = 250  # a small mark in the corner
  return np.clip(image, 0, 255).astype(np.uint8)


def fundus_extent(line: np.ndarray) -> int:
  """Number of pixels of a row or column of an RGB image that are fundus, not surround."""
  return int((line.max(axis=-1) > 25).sum())


@pytest.mark.parametrize("height,width,centre,radius", [
    (300, 420, (140.0, 250.0), 110.0),  # whole disc, off-centre in a wide frame
    (200, 330, (100.0, 150.0), 120.0),  # disc cut at the top and bottom, as in EyePACS
    (260, 240, (150.0, 110.0), 100.0),  # a taller-than-wide frame
])
def test_disc_is_found_and_its_diameter_fills_the_crop(height, width, centre, radius):
  image = photograph(height, width, centre, radius)
  disc = dr.find_disc(image)
  assert abs(disc.radius - radius) <= 2
  assert abs(disc.centre_y - centre[0]) <= 2 and abs(disc.centre_x - centre[1]) <= 2
  size = 128
  crop = dr.crop_to_disc(image, size)
  assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
  middle = size // 2
  assert abs(fundus_extent(crop[middle]) - size) <= 3  # the diameter fills the width
  visible_height = min(centre[0] + radius, height) - max(centre[0] - radius, 0)
  assert abs(fundus_extent(crop[:, middle]) - size * visible_height / (2 * radius)) <= 3


def test_blank_images_and_missing_grades_are_bad_records():
  config = data_config()
  good = {"image": photograph(100, 140, (50, 70), 45), "label": np.int64(2), "name": "1_left"}
  dr.validate(config, good)
  with pytest.raises(bad_records.BadRecordError, match="no fundus disc"):
    dr.validate(config, dict(good, image=np.full((100, 140, 3), 3, np.uint8)))
  with pytest.raises(bad_records.BadRecordError, match="label"):
    dr.validate(config, dict(good, label=np.int64(-1)))  # tfds' "no label"


def test_train_preprocess_augments_and_eval_preprocess_is_the_crop():
  config = data_config(image_size=96)
  record = {"image": photograph(200, 300, (100, 160), 90), "label": np.int64(3)}
  evaluated = dr.preprocess(config, train=False)(record, None)
  np.testing.assert_array_equal(evaluated["image"], dr.crop_to_disc(record["image"], 96))
  assert evaluated["label"] == 3 and evaluated["label"].dtype == np.int32
  train = dr.preprocess(config, train=True)
  augmented = [train(record, np.random.default_rng(i))["image"] for i in range(4)]
  assert all(a.shape == (96, 96, 3) and a.dtype == np.uint8 for a in augmented)
  assert not np.array_equal(augmented[0], augmented[1])
  for a in augmented:  # rotation and brightness keep the surround black (but salt noise)
    assert a[:8, :8].mean() <= 12 and a[-8:, -8:].mean() <= 12


def eyepacs_build(root, config="250K"):
  """A tfds diabetic_retinopathy_detection build: 6 train photographs in 2 shards (one
  blank: no fundus) and 4 test ones."""
  record = lambda i: {"image": photograph(90, 120, (45, 60), 40, seed=i), "label": i % 5,
                      "name": f"{i}_left"}
  train = [record(i) for i in range(6)]
  train[4]["image"] = np.full((90, 120, 3), 3, np.uint8)
  return write_tfds_build(root, "diabetic_retinopathy_detection", {
      "train": [train[:3], train[3:]], "test": [[record(i) for i in range(6, 10)]]},
      config=config)


def test_eyepacs_reads_a_tfds_array_record_build(tmp_path):
  version_dir = eyepacs_build(tmp_path)
  config = data_config(name="diabetic_retinopathy", dir=str(tmp_path), max_bad_fraction=0.5)
  train = pipeline.open_source(config, "train")
  assert len(train) == 6 and train.labels().tolist() == [0, 1, 2, 3, 4, 0]
  train.check()
  batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=4))
  assert batch["image"].shape == (4, 64, 64, 3) and batch["image"].dtype == np.uint8
  assert batch["label"].dtype == np.int32 and ((0 <= batch["label"]) & (batch["label"] < 5)).all()
  assert [train[i]["name"] for i in range(6)][4] == b"5_left"  # the blank one is replaced
  assert train.examples() == [
      f"{version_dir}/diabetic_retinopathy_detection-train.array_record-00001-of-00002 record 1"
      " (4_left): BadRecordError: no fundus disc found: the image is blank or uniform"]
  test = pipeline.open_source(config, "test", train=False)
  evals = list(pipeline.eval_batches(config, test, local_batch_size=8))
  assert len(evals) == 1 and int(evals[0]["mask"].sum()) == 4


def test_a_missing_tfds_config_names_the_configs_there_and_the_flag(tmp_path):
  eyepacs_build(tmp_path, config="original")
  config = data_config(name="diabetic_retinopathy", dir=str(tmp_path))  # tfds_config=250K
  with pytest.raises(FileNotFoundError) as e:
    pipeline.open_source(config, "train")
  assert str(e.value) == (
      f"--config.data.dir='{tmp_path}' holds tfds 'diabetic_retinopathy_detection' config(s) "
      "original, not '250K': pass --config.data.tfds_config=original, or build '250K' with "
      f"`tfds build diabetic_retinopathy_detection/250K --data_dir={tmp_path} "
      "--file_format=array_record`")
  config.tfds_config = "original"
  assert len(pipeline.open_source(config, "train")) == 6


def test_missing_eyepacs_dir_names_the_flag(tmp_path):
  config = data_config(name="diabetic_retinopathy", dir=str(tmp_path))
  with pytest.raises(FileNotFoundError) as e:
    pipeline.open_source(config, "train")
  assert "--config.data.dir" in str(e.value) and str(tmp_path) in str(e.value)
  assert "diabetic_retinopathy_detection/250K" in str(e.value)


def test_fundus_is_deterministic_and_split_apart():
  a, b = fundus.draw(0, "train", 7, 64), fundus.draw(0, "train", 7, 64)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].dtype == np.uint8 and a["image"].ndim == 3 and a["image"].shape[2] == 3
  assert a["image"].shape[1] > a["image"].shape[0]  # a wide frame, not the model's square
  assert not np.array_equal(a["image"], fundus.draw(0, "test", 7, 64)["image"])
  assert not np.array_equal(a["image"], fundus.draw(1, "train", 7, 64)["image"])
  assert a["label"] == fundus.grade(0, "train", 7)


def test_fundus_grades_have_the_documented_shares():
  for split, seed in (("train", 0), ("test", 3)):
    grades = [fundus.grade(seed, split, i) for i in range(400)]
    assert np.bincount(grades).tolist() == [160, 60, 100, 40, 40]
  first = [fundus.grade(0, "train", i) for i in range(40)]
  assert first != [fundus.grade(1, "train", i) for i in range(40)]


def test_fundus_lesions_follow_the_icdr_grades():
  plans = [fundus.plan(0, "train", i) for i in range(200)]
  for p in plans:
    c = p.lesion_counts()
    red = c["microaneurysms"] + c["haemorrhages"]
    proliferative = c["new_vessel_tufts"] + c["preretinal_haemorrhages"]
    assert (proliferative > 0) == (p.grade == 4)
    if p.grade == 0:
      assert sum(c.values()) == 0
    if p.grade == 1:
      assert 1 <= c["microaneurysms"] <= 4 and red + c["exudates"] == c["microaneurysms"]
    if p.grade == 2:
      assert c["haemorrhages"] + c["exudates"] > 0 and c["haemorrhages"] <= 5
    if p.grade == 3:  # 5 or more haemorrhages in each quadrant
      y, x = p.haemorrhages[:, 0], p.haemorrhages[:, 1]
      assert min(np.sum(((y >= 0) == down) & ((x >= 0) == right))
                 for down in (False, True) for right in (False, True)) >= 5
  mean_red = [np.mean([p.lesion_counts()["microaneurysms"] + p.lesion_counts()["haemorrhages"]
                       for p in plans if p.grade == g]) for g in range(4)]
  assert mean_red == sorted(mean_red) and mean_red[0] == 0 and mean_red[3] >= 25


def test_fundus_lesions_are_visible_and_grow_with_the_grade():
  # Pixels that lesions change by more than 20 levels, at a 128-pixel disc.
  changed = {g: [] for g in range(5)}
  for i in range(40):
    sick, healthy = fundus.draw(0, "train", i, 128), fundus.draw(0, "train", i, 128, lesions=False)
    diff = np.abs(sick["image"].astype(int) - healthy["image"]).max(axis=-1)
    changed[sick["label"]].append(int((diff > 20).sum()))
  assert max(changed[0]) == 0
  assert min(changed[1]) >= 5  # even one microaneurysm shows
  mean = [np.mean(changed[g]) for g in range(4)]
  assert mean == sorted(mean) and mean[3] > 5 * mean[1]
  assert min(changed[4]) >= 30


def test_fundus_disc_fills_the_preprocessed_image():
  config = data_config(image_size=96)
  source = pipeline.open_source(config, "train")
  preprocess = fundus.preprocess(config, train=False)
  for i in range(6):
    image = preprocess(source[i], None)["image"]
    assert image.shape == (96, 96, 3)
    assert abs(fundus_extent(image[48]) - 96) <= 3


def test_fundus_drawing_is_fast():
  fundus.draw(0, "train", 0, 160)
  start = time.process_time()
  for i in range(20):
    fundus.draw(0, "train", i, 160)
  assert (time.process_time() - start) / 20 < 0.025  # about 4 ms on one CPU core
