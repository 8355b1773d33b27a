"""zoo.data.ava on tiny files in AVA's real format (AVA.txt, images/ID.jpg,
aesthetics_image_lists/generic_test.jpgl, challenges.txt, tags.txt), written here, with a
truncated JPEG, a missing image and a malformed AVA.txt line; the pair rules; the
AVA-format stand-in."""
import io
import os

import ml_collections
import numpy as np
import pytest
from PIL import Image

from zoo.data import ava, ava_stand_in, pipeline
from zoo.data.bad_records import TooManyBadRecordsError

# Vote histograms for scores 1..10. Means and variances by hand:
#   A: 10 votes of 7, 10 of 8 -> mean 7.5, variance 0.25
#   B: 10 votes of 3, 10 of 4 -> mean 3.5, variance 0.25
#   C: 10 of 5, 10 of 6 -> mean 5.5, variance 0.25
#   WIDE: 10 of 1, 10 of 9 -> mean 5.0, variance 16 (fails the 2.6 rule)
A = [0, 0, 0, 0, 0, 0, 10, 10, 0, 0]
B = [0, 0, 10, 10, 0, 0, 0, 0, 0, 0]
C = [0, 0, 0, 0, 10, 10, 0, 0, 0, 0]
WIDE = [10, 0, 0, 0, 0, 0, 0, 0, 10, 0]


def _jpeg(colour, size=(48, 64)) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(np.full(size + (3,), colour, np.uint8)).save(buffer, format="JPEG")
  return buffer.getvalue()


def write_ava(root, images, *, test_ids=(), truncated=(), missing=(), extra_lines=()):
  """`images`: (id, counts, challenge) rows; extra_lines: raw lines appended to AVA.txt."""
  os.makedirs(os.path.join(root, "images"))
  os.makedirs(os.path.join(root, "aesthetics_image_lists"))
  lines = []
  for k, (image_id, counts, challenge) in enumerate(images):
    lines.append(" ".join(map(str, [k + 1, image_id, *counts, 15, 0, challenge])))
    if image_id in missing:
      continue
    data = _jpeg((image_id * 37 % 255, 90, 140))
    with open(os.path.join(root, "images", f"{image_id}.jpg"), "wb") as f:
      f.write(data[:len(data) // 2] if image_id in truncated else data)
  with open(os.path.join(root, "AVA.txt"), "w") as f:
    f.write("\n".join(lines + list(extra_lines)) + "\n")
  with open(os.path.join(root, "challenges.txt"), "w") as f:
    f.write("1 Landscapes\n2 Portraits\n")
  with open(os.path.join(root, "tags.txt"), "w") as f:
    f.write("15 Nature\n")
  with open(os.path.join(root, "aesthetics_image_lists", "generic_test.jpgl"), "w") as f:
    f.write("".join(f"{i}\n" for i in test_ids))


def data_config(root, **kw):
  c = ml_collections.ConfigDict(dict(
      name="ava", dir=str(root), seed=0, validation_fraction=0.0, test_fraction=0.0,
      min_rating_gap=1.0, max_vote_variance=2.6, pair_category="challenge", pairs_per_image=4,
      label_threshold=5.0, image_size=40, local_size=32, random_flip=False,
      max_bad_fraction=0.5, num_threads=1, train_split="train_pairs"))
  c.update(kw)
  return c


def test_catalogue_reads_votes_names_and_the_standard_test_list(tmp_path):
  write_ava(tmp_path, [(101, A, 1), (102, B, 1), (103, WIDE, 2)], test_ids=(103,),
            extra_lines=["4 104 1 2 3"])  # malformed: 5 fields
  cat = ava.catalogue(str(tmp_path), 0.5)
  assert cat.ids.tolist() == [101, 102, 103]
  np.testing.assert_allclose(cat.mean, [7.5, 3.5, 5.0])
  np.testing.assert_allclose(cat.variance, [0.25, 0.25, 16.0])
  assert cat.standard_test.tolist() == [False, False, True]
  assert cat.challenges.tolist() == [1, 1, 2] and cat.tags[:, 0].tolist() == [15, 15, 15]
  assert cat.challenge_names == {1: "Landscapes", 2: "Portraits"}
  assert len(cat.bad_lines) == 1
  assert cat.bad_lines[0].startswith(f"{tmp_path}/AVA.txt line 4: 5 fields")


def test_malformed_lines_past_the_threshold_stop_the_reader(tmp_path):
  write_ava(tmp_path, [(101, A, 1)], extra_lines=["2 102 x 0 0 0 0 0 0 0 0 0 0 0 1"])
  with pytest.raises(TooManyBadRecordsError, match=r"AVA.txt line 2: not all fields"):
    ava.catalogue(str(tmp_path), 0.1)
  with pytest.raises(FileNotFoundError, match="has no AVA.txt"):
    ava.catalogue(str(tmp_path / "nowhere"), 0.1)


def test_build_pairs_follows_the_rules():
  rng = np.random.default_rng(0)
  n = 300
  mean = rng.uniform(2, 8, n)
  variance = rng.uniform(0.5, 4.0, n)
  category = rng.integers(0, 4, n)
  members = np.arange(0, n, 2)  # half the images
  pairs = ava.build_pairs(mean, variance, category, members, min_rating_gap=1.0,
                          max_vote_variance=2.6, pairs_per_image=3,
                          rng=np.random.default_rng(1))
  assert len(pairs) > 100
  i, j = pairs[:, 0], pairs[:, 1]
  assert np.all(np.abs(mean[i] - mean[j]) >= 1.0)
  assert np.all(variance[i] <= 2.6) and np.all(variance[j] <= 2.6)
  assert np.all(category[i] == category[j])
  assert set(pairs.ravel()) <= set(members)
  assert len({tuple(sorted(p)) for p in pairs.tolist()}) == len(pairs)  # no duplicates
  first_better = mean[i] > mean[j]
  assert 0.35 < first_better.mean() < 0.65  # the order within a pair is random
  again = ava.build_pairs(mean, variance, category, members, min_rating_gap=1.0,
                          max_vote_variance=2.6, pairs_per_image=3,
                          rng=np.random.default_rng(1))
  np.testing.assert_array_equal(pairs, again)  # seeded


def test_splits_keep_train_and_test_images_apart(tmp_path):
  rng = np.random.default_rng(0)
  rows = []
  for k in range(120):
    counts = np.bincount(np.clip(np.rint(rng.uniform(2, 8) + rng.normal(0, 1, 40)), 1, 10)
                         .astype(int) - 1, minlength=10)
    rows.append((1000 + k, counts.tolist(), 1 + k % 3))
  write_ava(tmp_path, rows, test_ids=range(1100, 1120))
  config = data_config(tmp_path, validation_fraction=0.2, test_fraction=0.2)
  index = {s: ava.split_index(config, s) for s in
           ("train_pairs", "validation_pairs", "test_pairs", "standard_test_pairs",
            "train_images", "test_images", "standard_test_images")}
  assert all(len(index[s]) for s in index)
  train = set(index["train_pairs"].ravel())
  for other in ("validation_pairs", "test_pairs", "standard_test_pairs"):
    assert not train & set(index[other].ravel()), other
  assert set(index["test_images"]) == set(index["test_pairs"].ravel())
  cat = ava.catalogue(str(tmp_path), 0.5)
  assert set(cat.ids[index["standard_test_images"]]) == set(range(1100, 1120))
  assert not set(index["train_images"]) & set(index["standard_test_images"])
  mean = cat.mean
  for i, j in index["test_pairs"]:  # same category, ratings apart
    assert cat.challenges[i] == cat.challenges[j] and abs(mean[i] - mean[j]) >= 1.0


def test_bad_images_are_named_and_their_pairs_dropped(tmp_path):
  # 201 truncated, 202 missing; pairs by the rules: (200|201|202|203 high) x (210, 211 low).
  rows = [(200, A, 1), (201, A, 1), (202, A, 1), (210, B, 1), (211, B, 1), (220, C, 2)]
  write_ava(tmp_path, rows, truncated=(201,), missing=(202,))
  config = data_config(tmp_path, max_bad_fraction=0.9)
  pairs = ava.split_index(config, "train_pairs")
  cat = ava.catalogue(str(tmp_path), 0.9)
  assert len(pairs) == 6  # 3 high x 2 low in challenge 1; 220 has no partner
  source = pipeline.open_source(config, "train_pairs", train=False)
  records = [source[k] for k in range(len(source))]
  uses_bad = [bool({201, 202} & set(cat.ids[p].tolist())) for p in pairs]
  assert [r is None for r in records] == uses_bad
  assert source.num_bad == sum(uses_bad) == 4
  found = " ".join(source.examples())
  assert f"{tmp_path}/images/201.jpg" in found and "truncated" in found.lower()
  assert f"{tmp_path}/images/202.jpg: missing" in found
  good = [r for r in records if r is not None]
  for r in good:
    assert r["label"] == (1 if r["mean1"] > r["mean2"] else -1)
    assert r["path"].count(".jpg") == 2
  out = ava.preprocess(config, train=True)(good[0], np.random.default_rng(0))
  assert out["image1"].shape == (40, 40, 3) and out["local2"].shape == (32, 32, 3)
  assert "path" not in out and out["label"] in (1, -1)
  # Images: the training source replaces bad ones by the next good image.
  images = pipeline.open_source(config, "train_images", train=True)
  assert all(images[k]["id"] not in (201, 202) for k in range(len(images)))
  assert images.num_bad == 2


def test_stand_in_is_written_once_in_avas_format(tmp_path):
  config = ml_collections.ConfigDict(dict(
      dir=str(tmp_path), seed=3, num_train=40, num_eval=10, stand_in_shape=(60, 80),
      controversial_fraction=0.3))
  root = ava_stand_in.ensure_written(config)
  assert sorted(os.listdir(root)) == ["AVA.txt", "STAND_IN.json", "aesthetics_image_lists",
                                      "challenges.txt", "images", "tags.txt"]
  with open(os.path.join(root, "AVA.txt")) as f:
    lines = f.read().split("\n")[:-1]
  assert len(lines) == 50 and all(len(line.split()) == 15 for line in lines)
  cat = ava.catalogue(root, 0.0)
  assert len(cat.ids) == 50 and cat.standard_test.sum() == 10
  assert np.asarray(Image.open(cat.path(0))).shape == (60, 80, 3)
  assert (cat.variance > 2.6).sum() >= 5  # the controversial ones
  assert ava.stand_in(ml_collections.ConfigDict(dict(dir=root)))
  mtime = os.path.getmtime(os.path.join(root, "AVA.txt"))
  assert ava_stand_in.ensure_written(config) == root  # skipped when written
  assert os.path.getmtime(os.path.join(root, "AVA.txt")) == mtime


def test_stand_in_ratings_follow_its_quality_rules():
  good = {"composition": 1, "sharpness": 1, "grain": 1, "exposure": 1, "colour": 1}
  bad = {"composition": -1, "sharpness": -1, "grain": -1, "exposure": -1, "colour": -1}
  assert ava_stand_in.true_rating(good, 2, 0.0) == pytest.approx(5 + 0.75 * 3.8)
  assert ava_stand_in.true_rating(bad, 2, 0.0) == pytest.approx(5 - 0.75 * 3.8)
  sharp = ava_stand_in.draw(np.random.default_rng(1), 0, good, (60, 80)).astype(float)
  blurred = ava_stand_in.draw(np.random.default_rng(1), 0, {**good, "sharpness": -1},
                              (60, 80)).astype(float)
  edges = lambda x: np.percentile(np.abs(np.diff(x, axis=1)), 99.5)  # the subject's outline
  assert edges(blurred) < 0.6 * edges(sharp)
  grainy = ava_stand_in.draw(np.random.default_rng(1), 0, {**good, "grain": -1}, (60, 80))
  texture = lambda x: np.median(np.abs(np.diff(x, axis=1)))
  assert texture(grainy.astype(float)) > texture(sharp) + 5
