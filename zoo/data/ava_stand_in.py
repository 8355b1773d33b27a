"""Embedded stand-in for AVA: procedurally drawn photographs rated by simulated voters,
written to disk in AVA's own format and read back by `zoo.data.ava`. NOT AVA.

A generation stage writes AVA.txt, challenges.txt, tags.txt, images/ID.jpg and
aesthetics_image_lists/generic_test.jpgl into `DATA_DIR/ava_stand_in-DIGEST` (DATA_DIR is
`data.dir`, `runs/data` when empty; DIGEST names the generator's settings), once: a folder
already written (its STAND_IN.json marker holds the same settings) is used as it is.
Everything else - pairs, views, bad records - is `zoo.data.ava`'s.

Scenes come in six kinds, each an AVA-style challenge with a semantic tag (landscape,
portrait, still life, night, macro, seascape: backgrounds and subjects drawn differently).
Five quality factors are drawn independently per image and set its true rating through
fixed weights (the rules a network can learn):
  composition  subject on a rule-of-thirds point (+1), centred (0), or cut by an edge (-1);
  sharpness    sharp (+1) or Gaussian-blurred, 1.2-2.2 px (-1);
  grain        clean (+1) or grainy, noise sd 14-26 of 255 (-1);
  exposure     well exposed (+1), or washed out / dark (-1);
  colour       subject and background hues complementary or analogous, muted (+1), or
               90 degrees apart, both saturated (-1).
true rating = 5 + offset of the challenge (+-0.3) + 0.75 (0.8 comp + 0.9 sharp + 0.7 grain
+ 0.8 exposure + 0.6 colour + N(0, 0.25)). Simulated voters (60-180 per image) vote
round(true + N(0, sd)), sd 0.9-1.5, clipped to 1-10; a share `data.controversial_fraction`
of the images split their voters into two camps 2.2 points either side of the true
rating, so their vote variance passes 2.6 and the pair rules leave them out. The last
`data.num_eval` images are AVA's standard test list; the first `data.num_train` the rest.
Images are `data.stand_in_shape` (height, width) JPEGs, quality 90.
"""
import colorsys
import hashlib
import json
import os
import shutil

import ml_collections
import numpy as np
from absl import logging
from PIL import Image, ImageFilter

from zoo.data import ava

STAND_IN = True
DESCRIPTION = ("embedded stand-in for AVA: procedurally drawn photographs with simulated "
               "voters, written in AVA's format (not a real dataset)")
NUM_CLASSES = ava.NUM_CLASSES
DEFAULT_ROOT = os.path.join("runs", "data")
# (challenge id, challenge name, tag id, tag name, rating offset) per kind of scene
KINDS = (
    (1001, "Landscapes", 14, "Landscape", 0.3),
    (1002, "Portraits", 15, "Portraiture", -0.3),
    (1003, "Still_Life", 19, "Still_Life", 0.0),
    (1004, "Night_Sky", 8, "Night", -0.2),
    (1005, "Macro", 6, "Macro", 0.2),
    (1006, "Seascapes", 25, "Seascapes", 0.0),
)
WEIGHTS = {"composition": 0.8, "sharpness": 0.9, "grain": 0.7, "exposure": 0.8, "colour": 0.6}
_VERSION = 1  # bump when the drawing changes, so old folders are not reused


def settings(data_config) -> dict:
  c = data_config
  return {"version": _VERSION, "seed": int(c.seed), "num_train": int(c.num_train),
          "num_eval": int(c.num_eval), "shape": [int(v) for v in c.stand_in_shape],
          "controversial_fraction": float(c.controversial_fraction)}


def folder(data_config) -> str:
  digest = hashlib.sha256(json.dumps(settings(data_config), sort_keys=True).encode())
  return os.path.abspath(os.path.join(data_config.dir or DEFAULT_ROOT,
                                      f"ava_stand_in-{digest.hexdigest()[:12]}"))


def _rgb(hue, saturation, value):
  return np.asarray(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), np.float32)


def _disc(yy, xx, cy, cx, ry, rx=None):
  """Antialiased ellipse coverage in [0, 1]."""
  rx = ry if rx is None else rx
  dist = np.hypot((yy - cy) / ry, (xx - cx) / rx)
  return np.clip((1 - dist) * min(ry, rx) + 0.5, 0, 1)


def _box(yy, xx, y0, y1, x0, x1):
  return (np.clip(yy - y0 + 0.5, 0, 1) * np.clip(y1 - yy + 0.5, 0, 1)
          * np.clip(xx - x0 + 0.5, 0, 1) * np.clip(x1 - xx + 0.5, 0, 1))


def _mix(image, cover, colour):
  image += cover[..., None] * (colour - image)


def _subject_position(rng, composition, h, w, r):
  if composition == 1:  # a rule-of-thirds point
    cy, cx = h * rng.choice([1 / 3, 2 / 3]), w * rng.choice([1 / 3, 2 / 3])
    return cy + rng.normal(0, 0.02 * h), cx + rng.normal(0, 0.02 * w)
  if composition == 0:  # centred
    return h / 2 + rng.normal(0, 0.02 * h), w / 2 + rng.normal(0, 0.02 * w)
  offset = rng.uniform(0, 0.35) * r  # cut by the left or right edge
  return h * rng.uniform(0.25, 0.75), offset if rng.random() < 0.5 else w - offset


def draw(rng, kind: int, factors: dict, shape) -> np.ndarray:
  """One photograph [H, W, 3] uint8 of scene `kind` with quality `factors` (module doc)."""
  h, w = shape
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
  base = rng.random()
  if factors["colour"] > 0:  # complementary or analogous, muted
    hue, s_bg, s_subject = base + rng.choice([0.5, 1 / 12, -1 / 12]), 0.35, 0.6
  else:  # a quarter turn apart, both saturated
    hue, s_bg, s_subject = base + rng.choice([0.25, -0.25]) + rng.uniform(-0.03, 0.03), 0.9, 0.95
  image = np.empty((h, w, 3), np.float32)
  wave = 0.04 * np.sin(xx / w * rng.uniform(2, 6) + rng.uniform(0, 6)) * np.cos(
      yy / h * rng.uniform(2, 5))
  r = h * rng.uniform(0.13, 0.18)
  cy, cx = _subject_position(rng, factors["composition"], h, w, r)
  subject = _rgb(hue, s_subject, 0.85)
  if kind == 0:  # landscape: sky over ground, a tree
    horizon = h * rng.uniform(0.55, 0.7)
    sky = (yy < horizon)[..., None]
    image[:] = np.where(sky, _rgb(base, s_bg, 0.95) * (0.8 + 0.2 * yy / h)[..., None],
                        _rgb(base + 0.3, s_bg, 0.5))
    _mix(image, _box(yy, xx, cy, cy + 1.6 * r, cx - 0.18 * r, cx + 0.18 * r), _rgb(0.08, 0.5, 0.3))
    _mix(image, _disc(yy, xx, cy, cx, r), subject)
  elif kind == 1:  # portrait: vignetted backdrop, head and shoulders
    image[:] = _rgb(base, s_bg, 0.7)
    image *= (1 - 0.35 * np.hypot(yy / h - 0.5, xx / w - 0.5))[..., None]
    _mix(image, _disc(yy, xx, cy + 1.9 * r, cx, 0.9 * r, 1.6 * r), _rgb(hue + 0.05, s_subject, 0.5))
    _mix(image, _disc(yy, xx, cy, cx, 1.1 * r, 0.85 * r), subject)
  elif kind == 2:  # still life: wall, table, a vase
    table = h * rng.uniform(0.6, 0.72)
    image[:] = np.where((yy < table)[..., None], _rgb(base, s_bg, 0.75), _rgb(base + 0.5, s_bg, 0.45))
    _mix(image, _disc(yy, xx, cy, cx, 1.2 * r, 0.8 * r), subject)
    _mix(image, _box(yy, xx, cy - 1.9 * r, cy - 0.9 * r, cx - 0.3 * r, cx + 0.3 * r), subject * 0.8)
  elif kind == 3:  # night: dark sky, stars, the moon
    image[:] = _rgb(base, s_bg, 0.2)
    stars = rng.random((h, w)) < 0.004
    image[stars] = 0.9
    _mix(image, _disc(yy, xx, cy, cx, r), _rgb(hue, 0.5 * s_subject, 0.95))
  elif kind == 4:  # macro: soft bokeh, a flower
    image[:] = _rgb(base, s_bg, 0.55)
    for _ in range(6):
      _mix(image, 0.5 * _disc(yy, xx, rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0.2, 0.4) * h),
           _rgb(base + rng.uniform(-0.05, 0.05), s_bg, rng.uniform(0.5, 0.9)))
    for k in range(6):
      angle = 2 * np.pi * k / 6
      _mix(image, _disc(yy, xx, cy + 0.65 * r * np.sin(angle), cx + 0.65 * r * np.cos(angle),
                        0.45 * r), subject)
    _mix(image, _disc(yy, xx, cy, cx, 0.35 * r), _rgb(0.14, 0.8, 0.8))
  else:  # seascape: sky, striped sea, a sailing boat
    horizon = h * rng.uniform(0.45, 0.6)
    sea = np.where(np.sin(yy * 0.9) > 0.6, 0.55, 0.45)
    image[:] = np.where((yy < horizon)[..., None], _rgb(base, s_bg, 0.9),
                        _rgb(base + 0.02, s_bg, 1.0) * sea[..., None])
    hull = _box(yy, xx, cy + 0.6 * r, cy + r, cx - r, cx + r)
    sail = np.clip(((yy - (cy - 1.4 * r)) / (2 * r) - np.abs(xx - cx) / r) * r + 0.5, 0, 1) * (
        yy < cy + 0.6 * r)
    _mix(image, hull, _rgb(hue, s_subject, 0.4))
    _mix(image, sail, subject)
  image += wave[..., None]
  pil = Image.fromarray((np.clip(image, 0, 1) * 255).astype(np.uint8))
  if factors["sharpness"] < 0:
    pil = pil.filter(ImageFilter.GaussianBlur(rng.uniform(1.2, 2.2)))
  x = np.asarray(pil, np.float32) / 255
  if factors["exposure"] < 0:
    x = x * 0.4 if rng.random() < 0.5 else 0.35 + 0.75 * x  # dark, or washed out
  if factors["grain"] < 0:
    sd = rng.uniform(14, 26) / 255
    x = x + rng.normal(0, sd, (h, w, 1)) + rng.normal(0, sd / 3, (h, w, 3))
  return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def _factors(rng) -> dict:
  return {"composition": int(rng.integers(-1, 2)),
          **{k: int(rng.choice([-1, 1])) for k in ("sharpness", "grain", "exposure", "colour")}}


def true_rating(factors: dict, kind: int, noise: float) -> float:
  latent = sum(WEIGHTS[k] * v for k, v in factors.items()) + noise
  return 5.0 + KINDS[kind][4] + 0.75 * latent


def _votes(rng, rating: float, controversial: bool) -> np.ndarray:
  """Counts of votes for scores 1..10."""
  n = int(rng.integers(60, 181))
  if controversial:
    centre = rating + rng.choice([-2.2, 2.2], n)
    votes = np.rint(centre + rng.normal(0, 1.0, n))
  else:
    votes = np.rint(rating + rng.normal(0, rng.uniform(0.9, 1.5), n))
  return np.bincount(np.clip(votes, 1, 10).astype(np.int64) - 1, minlength=10)


def write(root: str, config: dict):
  """Writes the stand-in into the folder `root` (module docstring)."""
  rng = np.random.default_rng([config["seed"], 0xA7A5])
  total = config["num_train"] + config["num_eval"]
  ids = rng.choice(np.arange(100_000, 1_000_000), total, replace=False)
  os.makedirs(os.path.join(root, "images"))
  os.makedirs(os.path.join(root, "aesthetics_image_lists"))
  lines = []
  for k, image_id in enumerate(ids):
    image_rng = np.random.default_rng([config["seed"], 0xA7A6, k])
    kind = int(image_rng.integers(len(KINDS)))
    factors = _factors(image_rng)
    rating = true_rating(factors, kind, image_rng.normal(0, 0.25))
    counts = _votes(image_rng, rating, image_rng.random() < config["controversial_fraction"])
    pixels = draw(image_rng, kind, factors, config["shape"])
    Image.fromarray(pixels).save(os.path.join(root, "images", f"{image_id}.jpg"), quality=90)
    challenge, _, tag, _, _ = KINDS[kind]
    lines.append(" ".join(map(str, [k + 1, image_id, *counts, tag, 0, challenge])))
  with open(os.path.join(root, "AVA.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")
  with open(os.path.join(root, "challenges.txt"), "w") as f:
    f.write("".join(f"{c} {name}\n" for c, name, _, _, _ in KINDS))
  with open(os.path.join(root, "tags.txt"), "w") as f:
    f.write("".join(f"{t} {name}\n" for _, _, t, name, _ in KINDS))
  with open(os.path.join(root, "aesthetics_image_lists", "generic_test.jpgl"), "w") as f:
    f.write("".join(f"{i}\n" for i in ids[config["num_train"]:]))
  with open(os.path.join(root, ava.STAND_IN_MARKER), "w") as f:  # last: the folder is complete
    json.dump(config, f, indent=1)


def ensure_written(data_config) -> str:
  """The stand-in's folder, written first if it is not there yet (the generation stage)."""
  root = folder(data_config)
  config = settings(data_config)
  marker = os.path.join(root, ava.STAND_IN_MARKER)
  if os.path.exists(marker):
    return root
  if os.path.exists(root) and os.listdir(root):
    raise FileExistsError(f"{root} exists but holds no complete stand-in ({ava.STAND_IN_MARKER} "
                          "missing); remove it to have it written again")
  logging.info("writing the AVA stand-in (%d images) into %s", config["num_train"]
               + config["num_eval"], root)
  partial = f"{root}.partial-{os.getpid()}"
  shutil.rmtree(partial, ignore_errors=True)
  write(partial, config)
  try:
    os.rename(partial, root)  # atomic: a reader sees no folder or a complete one
  except OSError:  # another process finished first
    shutil.rmtree(partial, ignore_errors=True)
    if not os.path.exists(marker):
      raise
  return root


def ava_config(data_config) -> ml_collections.ConfigDict:
  """`data_config` with `dir` pointing at the written stand-in, for `zoo.data.ava`."""
  config = ml_collections.ConfigDict(data_config.to_dict())
  config.dir = ensure_written(data_config)
  return config


def source(data_config, split: str):
  return ava.source(ava_config(data_config), split)


def preprocess(data_config, train: bool):
  return ava.preprocess(data_config, train)


def validate(data_config, record):
  ava.validate(data_config, record)


def pair_lists(data_config) -> dict:
  return ava.pair_lists(ava_config(data_config))


def category_name(data_config, image_id: int) -> str:
  return ava.category_name(ava_config(data_config), image_id)


def summary(data_config) -> str:
  return ava.summary(ava_config(data_config))
