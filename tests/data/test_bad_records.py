"""The one bad-record mechanism: every kind of bad input is counted, reported with its
path or index, skipped, and stops the run past the configured share."""
import io
import os
import types

import ml_collections
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from zoo.data import bad_records, image_transforms, pipeline


class ImageFiles:
  """A folder of JPEG files with labels, read as a real reader would (PIL decode)."""

  def __init__(self, entries):
    self.entries = entries  # (path, label)

  def __len__(self):
    return len(self.entries)

  def __getitem__(self, i):
    path, label = self.entries[i]
    with open(path, "rb") as f:
      image = np.asarray(Image.open(io.BytesIO(f.read())).convert("RGB") if path.endswith(".jpg")
                         else np.load(f))
    return {"image": image, "label": label, "path": path}


def write_jpeg(path, size=16, seed=0):
  pixels = np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)
  Image.fromarray(pixels).save(path, format="JPEG")
  return path


@pytest.fixture
def folder(tmp_path):
  good = [(write_jpeg(str(tmp_path / f"good{i}.jpg"), seed=i), i % 3) for i in range(12)]
  corrupt = str(tmp_path / "corrupt.jpg")
  with open(corrupt, "wb") as f:
    f.write(b"this is not an image at all" * 10)
  truncated = write_jpeg(str(tmp_path / "truncated.jpg"), size=64)
  with open(truncated, "r+b") as f:
    f.truncate(os.path.getsize(truncated) // 3)
  tiny = write_jpeg(str(tmp_path / "tiny.jpg"), size=2)
  two_channels = str(tmp_path / "two_channels.npy")
  np.save(two_channels, np.zeros((16, 16, 2), np.uint8))
  bad = [(corrupt, 0), (truncated, 1), (str(tmp_path / "missing.jpg"), 2), (tiny, 0),
         (two_channels, 1), (good[0][0], 7)]  # the last: label out of range
  return good, bad


def guarded(entries, max_bad_fraction):
  source = ImageFiles(entries)
  return bad_records.GuardedSource(
      source, lambda r: image_transforms.validate_classification(r, num_classes=3),
      name="folder", max_bad_fraction=max_bad_fraction,
      locate=lambda i: source.entries[i][0])


def test_each_kind_of_bad_input_is_reported_with_its_path_and_skipped(folder):
  good, bad = folder
  entries = good[:6] + bad + good[6:]
  source = guarded(entries, max_bad_fraction=0.5)
  records = [source[i] for i in range(len(entries))]
  assert source.num_bad == len(bad)
  for record in records:  # only good records come out
    image_transforms.validate_classification(record, num_classes=3)
  messages = "\n".join(source.examples())
  for path, _ in bad:
    assert path in messages
  for why in ("UnidentifiedImageError", "OSError", "FileNotFoundError", "image of 2x2 pixels",
              "image with 2 channels", "label 7 outside [0, 3)"):
    assert why in messages, why
  assert records[6]["path"] == good[6][0]  # a bad record is replaced by the next good one


def test_too_many_bad_records_stop_with_a_clear_message(folder):
  good, bad = folder
  source = guarded(good + bad, max_bad_fraction=0.2)  # 18 records: at most 3 may be bad
  with pytest.raises(bad_records.TooManyBadRecordsError,
                     match=r"4 bad records in folder \(18 records\) exceed "
                           r"--config.data.max_bad_fraction=0.2; first: .*corrupt.jpg"):
    for i in range(len(source)):
      source[i]


@settings(max_examples=60, deadline=None)
@given(bad_mask=st.lists(st.booleans(), min_size=1, max_size=40),
       fraction=st.sampled_from([0.0, 0.1, 0.25, 0.5, 1.0]))
def test_guard_never_returns_bad_records_and_trips_exactly_past_the_share(bad_mask, fraction):
  records = [{"image": np.zeros((8, 8, 3 if not bad else 2), np.uint8), "label": i % 3}
             for i, bad in enumerate(bad_mask)]
  source = bad_records.GuardedSource(
      records, lambda r: image_transforms.validate_classification(r, 3), name="t",
      max_bad_fraction=fraction)
  num_bad, n = sum(bad_mask), len(bad_mask)
  try:
    out = [source[i] for i in range(n)]
  except bad_records.TooManyBadRecordsError:
    assert num_bad > fraction * n or num_bad == n  # past the share, or nothing good left
    return
  assert num_bad <= fraction * n and num_bad < n
  assert source.num_bad == num_bad
  assert all(r["image"].shape[-1] == 3 for r in out)
  for i, r in enumerate(out):  # a bad index gives the next good record, cyclically
    j = i
    while bad_mask[j]:
      j = (j + 1) % n
    assert r is records[j]


def test_pipeline_batches_skip_bad_records(monkeypatch):
  records = [{"image": np.full((12, 12, 3), i, np.uint8), "label": i % 3} for i in range(20)]
  records[5] = {"image": np.zeros((12, 12, 5), np.uint8), "label": 0}
  module = types.SimpleNamespace(
      source=lambda config, split: records,
      preprocess=lambda config, train: image_transforms.classification_preprocess(config, train),
      validate=lambda config, r: image_transforms.validate_classification(r, 3))
  monkeypatch.setattr(pipeline, "data_module", lambda config: module)
  config = ml_collections.ConfigDict(dict(
      name="fake", train_split="train", image_size=8, resize_ratio=1.5, train_crop="random", min_crop_area=0.08, color_jitter=0.0, eval_crops="center",
      random_flip=True, num_threads=2, prefetch_batches=2, max_bad_fraction=0.1))
  source = pipeline.open_source(config, "train")
  it = pipeline.train_iterator(config, source, seed=0, local_batch_size=4)
  seen = np.concatenate([next(it)["image"][:, 0, 0, 0] for _ in range(5)])
  assert 5 not in seen and source.num_bad == 1


def test_open_source_reports_an_unreadable_image_file_by_its_path(tmp_path):
  from zoo.data import image_folder
  image_folder.write_images(str(tmp_path), "train", 2, num_classes=2, height=40, width=48)
  broken = tmp_path / "train" / "class_0001" / "00000.jpg"
  with open(broken, "r+b") as f:
    f.truncate(os.path.getsize(broken) // 3)
  config = ml_collections.ConfigDict(dict(
      name="image_folder", dir=str(tmp_path), train_split="train", max_bad_fraction=0.5))
  source = pipeline.open_source(config, "train")
  assert [source[i]["path"] for i in range(4)][2] == str(tmp_path / "train" / "class_0001" / "00001.jpg")
  assert len(source.examples()) == 1
  assert source.examples()[0].startswith(f"{broken}: OSError: ")
