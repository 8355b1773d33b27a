"""GAN data: the procedural faces (determinism, attribute shares, each attribute one local
change), scikit-learn's digits, the Gaussian mixtures, and tfds celeb_a through mock data."""
import ml_collections
import numpy as np
import pytest

from zoo.data import celeb_a, digits, faces, gaussian_mixture, pipeline


def faces_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="faces", train_split="train", image_size=32, random_flip=False, num_threads=2,
      prefetch_batches=2, seed=0, num_train=40, num_eval=10, max_bad_fraction=0.0))
  config.update(overrides)
  return config


def test_faces_are_deterministic_split_apart_and_know_their_attributes():
  a, b = faces.draw(0, "train", 5, 32), faces.draw(0, "train", 5, 32)
  np.testing.assert_array_equal(a["image"], b["image"])
  assert a["image"].shape == (32, 32, 3) and a["image"].dtype == np.uint8
  assert not np.array_equal(a["image"], faces.draw(0, "test", 5, 32)["image"])
  assert not np.array_equal(a["image"], faces.draw(1, "train", 5, 32)["image"])
  face = faces.face(0, "train", 5)
  np.testing.assert_array_equal(a["attributes"], face.attributes)
  assert a["label"] == faces.HAIR_COLOURS.index(face.hair)


def test_face_attribute_shares():
  rows = np.array([faces.face(0, "train", i).attributes for i in range(2000)])
  shares = rows.mean(0)
  for name, share in faces.SHARES.items():
    assert abs(shares[faces.ATTRIBUTES.index(name)] - share) < 0.04, name
  hair = rows[:, [faces.ATTRIBUTES.index(h) for h in faces.HAIR_COLOURS]]
  assert np.all(hair.sum(1) == 1)
  np.testing.assert_allclose(hair.mean(0), faces.HAIR_SHARES, atol=0.04)


@pytest.mark.parametrize("index", range(4))
def test_each_attribute_is_one_visible_change_and_nothing_else(index):
  """Flipping an attribute changes pixels only where it is drawn: local attributes a small
  region of the face, hair colour the hair; an unchanged face renders identically."""
  size = 64
  face = faces.face(3, "train", index)
  base = faces.render(face, size).astype(int)
  np.testing.assert_array_equal(base, faces.render(face.edit(), size))
  changed = {}
  for name in faces.ATTRIBUTES[:4] + ("Blond_Hair" if face.hair != "Blond_Hair" else "Black_Hair",):
    edited = face.edit(**{name: 1 - face.has(name)})
    assert [n for n in faces.ATTRIBUTES if edited.has(n) != face.has(n)] in (
        [name], sorted([name, face.hair], key=faces.ATTRIBUTES.index))
    diff = np.abs(faces.render(edited, size).astype(int) - base).max(-1) > 30
    rows, cols = np.nonzero(diff)
    changed[name] = diff.sum()
    assert diff.sum() >= 15, name  # visible at 64x64
    if name in faces.LOCAL_ATTRIBUTES:  # within a box of a third of the image
      assert np.ptp(rows) < size * 0.4 and np.ptp(cols) < size * 0.45, name
  assert changed[name] > max(changed[n] for n in faces.LOCAL_ATTRIBUTES)  # hair is global


def test_face_edits_are_checked():
  face = faces.face(0, "train", 0)
  with pytest.raises(ValueError, match="unknown face attribute 'Beard'"):
    face.edit(Beard=1)
  with pytest.raises(ValueError, match="exactly one hair colour"):
    face.edit(**{face.hair: 0})


def test_faces_read_through_the_pipeline():
  config = faces_config()
  source = pipeline.open_source(config, "train")
  batch = next(pipeline.train_iterator(config, source, seed=0, local_batch_size=8))
  assert batch["image"].shape == (8, 32, 32, 3) and batch["attributes"].shape == (8, 7)
  assert faces.example_shape(config) == (32, 32, 3)


def test_digits_ship_with_scikit_learn_in_a_fixed_split():
  train, test = digits.source(None, "train"), digits.source(None, "test")
  assert (len(train), len(test)) == (1297, 500)
  images = np.stack([train[i]["image"] for i in range(len(train))])
  assert images.shape == (1297, 8, 8, 1) and images.dtype == np.uint8 and images.max() == 255
  assert np.bincount([test[i]["label"] for i in range(500)]).min() >= 35  # all ten digits
  train_set = {train[i]["image"].tobytes() for i in range(len(train))}
  overlap = sum(test[i]["image"].tobytes() in train_set for i in range(len(test)))
  assert overlap <= 5  # a handful of UCI digits are exact duplicates


@pytest.mark.parametrize("mixture,modes,std", [("ring", 8, 0.02), ("grid", 25, 0.05)])
def test_mixture_points_sit_on_their_modes(mixture, modes, std):
  config = ml_collections.ConfigDict(dict(mixture=mixture, seed=0, num_train=4000, num_eval=10))
  centres, sd = gaussian_mixture.modes(config)
  assert centres.shape == (modes, 2) and sd == std
  source = gaussian_mixture.source(config, "train")
  offsets = source.points - centres[source.labels]
  assert abs(offsets.std() - std) < 0.1 * std
  assert np.bincount(source.labels, minlength=modes).min() > 4000 / modes * 0.7
  assert not np.array_equal(source.points[:10], gaussian_mixture.source(config, "test").points)
  if mixture == "ring":
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0)


def celeb_a_config(**overrides):
  config = ml_collections.ConfigDict(dict(
      name="celeb_a", dir="", train_split="train", image_size=32, crop_size=108,
      random_flip=True, num_threads=2, prefetch_batches=2, max_bad_fraction=0.0))
  config.update(overrides)
  return config


def _celeb_a_record(rng, i):
  landmarks = ("lefteye", "righteye", "nose", "leftmouth", "rightmouth")
  return {"image": rng.integers(0, 256, (218, 178, 3), np.uint8),
          "attributes": {a: bool(rng.integers(2)) for a in celeb_a.ATTRIBUTES},
          "identity": {"Identity_No": i},
          "landmarks": {f"{p}_{xy}": int(rng.integers(0, 178)) for p in landmarks
                        for xy in "xy"}}


def test_celeb_a_reads_through_tfds_data_source_and_grain(tmp_path):
  from conftest import write_tfds_build  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  write_tfds_build(tmp_path, "celeb_a", {
      "train": [[_celeb_a_record(rng, i) for i in range(10)]],
      "test": [[_celeb_a_record(rng, i) for i in range(6)], [_celeb_a_record(rng, 6 + i)
                                                            for i in range(4)]]})
  config = celeb_a_config(dir=str(tmp_path))
  train = pipeline.open_source(config, "train")
  record = train[0]
  assert record["image"].shape == (218, 178, 3)  # the aligned crops' size
  batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=4))
  test = pipeline.open_source(config, "test", train=False)
  evals = list(pipeline.eval_batches(config, test, local_batch_size=8))
  assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.uint8
  assert batch["attributes"].shape == (4, 40) and set(np.unique(batch["attributes"])) <= {0, 1}
  expected = celeb_a.attribute_vector(record["attributes"])
  np.testing.assert_array_equal(
      celeb_a.preprocess(config, train=False)(record, None)["attributes"], expected)
  assert expected[celeb_a.ATTRIBUTES.index("Smiling")] == record["attributes"]["Smiling"]
  assert len(evals) == 2 and sum(int(b["mask"].sum()) for b in evals) == 10


def test_celeb_a_crop_is_the_central_square():
  image = np.zeros((218, 178, 3), np.uint8)
  image[55:163, 35:143] = 200  # the central 108 x 108
  out = celeb_a.center_square(image, 108, 64)
  assert out.shape == (64, 64, 3) and out.min() == 200


def test_missing_celeb_a_dir_names_the_flag(tmp_path):
  with pytest.raises(FileNotFoundError, match="--config.data.dir"):
    pipeline.open_source(celeb_a_config(dir=str(tmp_path)), "train")
