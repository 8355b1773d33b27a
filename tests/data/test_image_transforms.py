"""Augmentations and multi-crop testing: the crops land where they should."""
import numpy as np

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
