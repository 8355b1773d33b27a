"""Class folders of JPEG files: labels, splits, decoding, errors naming the folder."""
import ml_collections
import numpy as np
import pytest
from PIL import Image

from zoo.data import image_folder, pipeline


def data_config(root, **overrides):
  config = ml_collections.ConfigDict(dict(
      name="image_folder", dir=str(root), train_split="train", image_size=32, resize_ratio=9 / 8,
      train_crop="resized", min_crop_area=0.3, random_flip=True, color_jitter=0.2,
      eval_crops="center", num_threads=2, prefetch_batches=2, max_bad_fraction=0.0))
  config.update(overrides)
  return config


def test_folders_become_labelled_batches(tmp_path):
  image_folder.write_images(str(tmp_path), "train", 3, num_classes=4, height=60, width=80)
  image_folder.write_images(str(tmp_path), "validation", 1, num_classes=4, height=50, width=40)
  Image.new("L", (40, 30), 128).save(tmp_path / "validation" / "class_0002" / "grey.png")
  config = data_config(tmp_path)
  assert image_folder.num_classes(config) == 4
  train = pipeline.open_source(config, "train")
  assert len(train) == 12 and train[5]["label"] == 1 and train[5]["image"].shape == (60, 80, 3)
  batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=6))
  assert batch["image"].shape == (6, 32, 32, 3) and batch["image"].dtype == np.uint8
  val = pipeline.open_source(config, "validation", train=False)
  assert sorted(val[i]["label"] for i in range(len(val))) == [0, 1, 2, 2, 3]
  batches = list(pipeline.eval_batches(config, val, local_batch_size=8))
  assert batches[0]["image"].shape == (8, 32, 32, 3) and batches[0]["mask"].sum() == 5


def test_missing_folders_and_unknown_classes_are_named(tmp_path):
  with pytest.raises(FileNotFoundError, match="has no folder 'train'"):
    image_folder.num_classes(data_config(tmp_path / "nowhere"))
  image_folder.write_images(str(tmp_path), "train", 1, num_classes=2, height=20, width=20)
  (tmp_path / "validation" / "class_0009").mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match="class_0009 is not a class of the train split"):
    image_folder.source(data_config(tmp_path), "validation")
