"""Embedded stand-in for image classification: procedurally drawn textured shapes.

NOT a real dataset. Each record is drawn from `(seed, split, index)` alone, so the
set is deterministic, needs no files, and any index can be read in any order. The
class is the shape (circle, square, ...); colour, texture, position, size and
rotation are random nuisances, so a network must learn shape to do well.
"""
import numpy as np

from zoo.data import image_transforms, stand_in

CLASS_NAMES = ("circle", "square", "triangle", "cross", "ring",
               "star", "semicircle", "bar", "ell", "crescent")
NUM_CLASSES = len(CLASS_NAMES)
STAND_IN = True
DESCRIPTION = "embedded stand-in: procedurally generated textured shapes (not a real dataset)"


def _polygon(u, v, sides, radius):
  """Mask of a regular polygon (as a max of half-planes) in rotated coordinates u, v."""
  angles = 2 * np.pi * np.arange(sides) / sides
  dist = np.max(u[..., None] * np.cos(angles) + v[..., None] * np.sin(angles), axis=-1)
  return dist <= radius * np.cos(np.pi / sides)


def shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
  """Boolean mask of shape `name` of radius about 1 in coordinates (u, v)."""
  r = np.hypot(u, v)
  if name == "circle":
    return r <= 1.0
  if name == "square":
    return np.maximum(abs(u), abs(v)) <= 0.8
  if name == "triangle":
    return _polygon(u, v, 3, 1.0)
  if name == "cross":
    return ((abs(u) <= 0.3) & (abs(v) <= 1.0)) | ((abs(v) <= 0.3) & (abs(u) <= 1.0))
  if name == "ring":
    return (r <= 1.0) & (r >= 0.6)
  if name == "star":
    theta = np.arctan2(v, u)
    return r <= 0.45 + 0.55 * np.abs(np.cos(2.5 * theta)) ** 2
  if name == "semicircle":
    return (r <= 1.0) & (v >= -0.2)
  if name == "bar":
    return (abs(u) <= 1.0) & (abs(v) <= 0.3)
  if name == "ell":
    return ((abs(u + 0.5) <= 0.3) & (abs(v) <= 1.0)) | ((abs(v - 0.7) <= 0.3) & (abs(u) <= 0.8))
  if name == "crescent":
    return (r <= 1.0) & (np.hypot(u - 0.45, v) >= 0.8)
  raise ValueError(f"unknown shape '{name}'")


def _texture(rng, yy, xx, size, colour):
  """`colour` modulated by stripes of random frequency and direction, plus noise."""
  angle, freq = rng.uniform(0, np.pi), rng.uniform(2, 10)
  stripes = 0.5 + 0.5 * np.sin(freq * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)))
  contrast = rng.uniform(0.1, 0.5)
  noise = rng.normal(0, 12, size=(size, size, 3))
  return colour * (1 - contrast + contrast * stripes[..., None]) + noise


def draw(seed: int, split: str, index: int, size: int) -> dict:
  """Record `index` of `split`: {'image': uint8 [size, size, 3], 'label': int}."""
  rng = np.random.default_rng([seed, stand_in.SPLIT_IDS[split], index])
  label = index % NUM_CLASSES  # balanced classes; the loader shuffles
  yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
  scale = rng.uniform(0.45, 0.75)
  cy, cx = rng.uniform(-0.9 + scale, 0.9 - scale, size=2)
  angle = rng.uniform(0, 2 * np.pi)
  y, x = (yy - cy) / scale, (xx - cx) / scale
  u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
  mask = shape_mask(CLASS_NAMES[label], u, v)[..., None]
  background = rng.uniform(0, 255, size=3)
  foreground = rng.uniform(0, 255, size=3)
  while np.linalg.norm(foreground - background) < 120:  # the shape must stay visible
    foreground = rng.uniform(0, 255, size=3)
  image = np.where(mask, _texture(rng, yy, xx, size, foreground),
                   _texture(rng, yy, xx, size, background))
  return {"image": np.clip(image, 0, 255).astype(np.uint8), "label": label}


def source(data_config, split: str):
  return stand_in.DrawnSource("shapes", draw, data_config, split, image_transforms.resize_size(data_config),
                              label=lambda seed, split, index: index % NUM_CLASSES)


def preprocess(data_config, train: bool):
  return image_transforms.classification_preprocess(data_config, train)


def validate(data_config, record):
  image_transforms.validate_classification(record, NUM_CLASSES)
