"""Augmentations and multi-crop testing: the crops land where they should."""
import numpy as np
import pytest

from zoo.data import image_transforms as T


def gradient_image(h, w):
  """uint8 image whose pixel (y, x) encodes its own coordinates."""
  yy, xx = np.mgrid[:h, :w]
  return np.stack([yy % 256, xx % 256, (yy + xx) % 256], -1).astype(np.uint8)


def test_ten_crops_are_corners_centre_and_mirrors():
  image = gradient_image(40, 50)
  crops = T.ten_crops(image, 32)
  assert crops.shape == (10, 32, 32, 3)
  np.testing.assert_array_equal(crops[0], image[:32, :32])
  np.testing.assert_array_equal(crops[3], image[8:, 18:])
  np.testing.assert_array_equal(crops[4], image[4:36, 9:41])
  np.testing.assert_array_equal(crops[9], crops[4][:, ::-1])


def test_random_resized_crop_covers_the_requested_area():
  rng = np.random.default_rng(0)
  image = gradient_image(200, 250)  # coordinates below 256 fit in uint8
  areas = []
  for _ in range(200):
    out = T.random_resized_crop(image, 32, rng, area=(0.25, 0.5))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    # the window's extent, read back from the coordinates encoded in the corner pixels
    h = int(out[-1, 0, 0]) - int(out[0, 0, 0])
    w = int(out[0, -1, 1]) - int(out[0, 0, 1])
    areas.append(h * w / (200 * 250))
  assert 0.2 < min(areas) and max(areas) < 0.5  # bilinear corners sit inside the window
  assert np.std(areas) > 0.03  # the area is random, not fixed


def test_color_jitter_is_off_at_zero_and_changes_colours_otherwise():
  image = np.random.default_rng(0).integers(40, 220, (16, 16, 3), dtype=np.uint8)
  np.testing.assert_array_equal(T.color_jitter(image, 0.0, np.random.default_rng(0)), image)
  jittered = T.color_jitter(image, 0.4, np.random.default_rng(1))
  assert jittered.shape == image.shape and jittered.dtype == np.uint8
  assert np.abs(jittered.astype(int) - image).mean() > 5


def test_the_resize_follows_the_crop_size_and_a_resize_under_the_crop_is_refused():
  from launch import config as config_lib
  from zoo.data import pipeline
  assert T.resize_size(config_lib.resolve("imagenet_vgg_f").data) == 256  # 224 crops of 256
  assert T.resize_size(config_lib.resolve("imagenet_inception_v3").data) == 342  # 299 / 0.875
  config = config_lib.resolve("imagenet_inception_v3:synthetic", ["--config.data.image_size=299"])
  assert T.resize_size(config.data) == 336  # the stand-in's 9/8 of the crop, not of 80
  record = pipeline.open_source(config.data, "train")[0]
  assert record["image"].shape == (336, 336, 3)
  for train, crop in ((True, "random"), (True, "center"), (False, "center")):
    with config.unlocked():
      config.data.train_crop = crop
    out = T.classification_preprocess(config.data, train)(record, np.random.default_rng(0))
    assert out["image"].shape == (299, 299, 3)
  config = config_lib.resolve("imagenet_vgg_f:smoke", ["--config.data.resize_ratio=0.9"])
  with pytest.raises(ValueError) as e:
    pipeline.open_source(config.data, "train")
  assert str(e.value) == (
      "--config.data.resize_ratio=0.9 makes the resized image (58 pixels) smaller than the "
      "crop --config.data.image_size=64: the ratio must be at least 1")
