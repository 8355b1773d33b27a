"""Embedded stand-in for CelebA: procedurally drawn faces with known, seeded attributes.

NOT a real dataset. Each face is drawn from `(seed, split, index)` alone. A face is a
`Face`: an identity (skin tone, face shape and position, eye spacing and size, mouth
width, background, lighting) and attributes named as CelebA's: 'Smiling', 'Eyeglasses',
'Mustache', 'Bangs' (local changes) and hair colour as 'Black_Hair' / 'Blond_Hair' /
'Brown_Hair' (exactly one set; a global change). Each attribute is one change in the
drawing and nothing else, so `render(face.edit(Smiling=1), size)` is the ground truth
of "the same person, smiling", and the attributes of any drawn face are known exactly
(the facial-attribute-manipulation task uses both).

Records: {'image': uint8 [S, S, 3], 'attributes': int32 [len(ATTRIBUTES)] (0/1, in the
order of ATTRIBUTES), 'label': int32 (the index of the hair colour, 0-2)}.
Data config fields: `seed`, `num_train`, `num_eval`, `image_size` (S), `random_flip`.
"""
import dataclasses

import numpy as np

from zoo.data import image_transforms, stand_in
from zoo.data.bad_records import BadRecordError

HAIR_COLOURS = ("Black_Hair", "Blond_Hair", "Brown_Hair")
ATTRIBUTES = ("Smiling", "Eyeglasses", "Mustache", "Bangs") + HAIR_COLOURS
LOCAL_ATTRIBUTES = ("Smiling", "Eyeglasses", "Mustache")
GLOBAL_ATTRIBUTES = ("Bangs",) + HAIR_COLOURS
NUM_CLASSES = len(HAIR_COLOURS)  # 'label' is the hair colour
STAND_IN = True
DESCRIPTION = ("embedded stand-in: procedurally drawn faces with seeded attributes "
               "(not CelebA)")

# Probabilities of the binary attributes (higher than CelebA's for eyeglasses and mustache,
# so every attribute has enough examples in a few thousand faces) and of the hair colours.
SHARES = {"Smiling": 0.5, "Eyeglasses": 0.3, "Mustache": 0.3, "Bangs": 0.3}
HAIR_SHARES = (0.35, 0.3, 0.35)
HAIR_RGB = {"Black_Hair": (35, 28, 26), "Blond_Hair": (226, 194, 120),
            "Brown_Hair": (112, 70, 38)}


@dataclasses.dataclass(frozen=True)
class Face:
  """One face: identity fields (drawn once, never changed by an edit) and attributes."""
  skin: tuple  # RGB
  background: tuple  # RGB, top and bottom of a vertical gradient
  background_bottom: tuple
  centre: tuple  # (y, x) of the face in [-1, 1] coordinates
  half_size: tuple  # (height, width) of the face ellipse
  eye_spacing: float
  eye_size: float
  mouth_width: float
  light: float  # overall brightness factor
  attributes: tuple  # 0/1 per name of ATTRIBUTES

  def has(self, name: str) -> bool:
    return bool(self.attributes[ATTRIBUTES.index(name)])

  @property
  def hair(self) -> str:
    return next(h for h in HAIR_COLOURS if self.has(h))

  def edit(self, **changes) -> "Face":
    """The same identity with attributes changed, e.g. `edit(Smiling=1)`; setting a hair
    colour clears the other two."""
    values = dict(zip(ATTRIBUTES, self.attributes))
    for name, value in changes.items():
      if name not in ATTRIBUTES:
        raise ValueError(f"unknown face attribute '{name}'; known: {', '.join(ATTRIBUTES)}")
      if name in HAIR_COLOURS and value:
        values.update({h: 0 for h in HAIR_COLOURS})
      values[name] = int(bool(value))
    if sum(values[h] for h in HAIR_COLOURS) != 1:
      raise ValueError("a face has exactly one hair colour: set the new one to 1")
    return dataclasses.replace(self, attributes=tuple(values[a] for a in ATTRIBUTES))


def face(seed: int, split: str, index: int) -> Face:
  """The face of record `index` of `split`, from `(seed, split, index)` alone."""
  rng = np.random.default_rng([seed, stand_in.SPLIT_IDS[split], index, 7])
  tone = rng.uniform(0, 1)
  skin = tuple(np.array([250, 214, 180]) * (1 - tone) + np.array([140, 95, 65]) * tone)
  background = tuple(rng.uniform(40, 220, 3))
  bottom = tuple(np.clip(np.array(background) + rng.uniform(-40, 40, 3), 0, 255))
  binary = [int(rng.random() < SHARES[a]) for a in SHARES]
  hair = np.eye(3, dtype=int)[rng.choice(3, p=HAIR_SHARES)].tolist()
  return Face(skin=skin, background=background, background_bottom=bottom,
              centre=(rng.uniform(-0.06, 0.1), rng.uniform(-0.08, 0.08)),
              half_size=(rng.uniform(0.58, 0.68), rng.uniform(0.44, 0.54)),
              eye_spacing=rng.uniform(0.17, 0.23), eye_size=rng.uniform(0.045, 0.065),
              mouth_width=rng.uniform(0.15, 0.22), light=rng.uniform(0.85, 1.1),
              attributes=tuple(binary + hair))


def _coverage(distance, pixel):
  """Anti-aliased coverage of a shape from a signed distance (negative inside), in pixels."""
  return np.clip(0.5 - distance / pixel, 0.0, 1.0)[..., None]


def _ellipse(yy, xx, cy, cx, ry, rx):
  """Approximate signed distance to an ellipse (exact for circles)."""
  return (np.hypot((yy - cy) / ry, (xx - cx) / rx) - 1) * min(ry, rx)


def _paint(image, alpha, colour):
  image *= 1 - alpha
  image += alpha * np.asarray(colour, np.float64)


def render(f: Face, size: int) -> np.ndarray:
  """The face as uint8 [size, size, 3]; deterministic (no noise), so two renderings of
  faces that differ in one attribute differ only where that attribute is drawn."""
  yy, xx = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
  pixel = 2.0 / size
  top, bottom = np.asarray(f.background), np.asarray(f.background_bottom)
  image = top + (bottom - top) * ((yy[..., None] + 1) / 2)
  cy, cx = f.centre
  hy, hx = f.half_size
  hair = np.asarray(HAIR_RGB[f.hair], np.float64)
  # Hair: a larger ellipse behind the head, its top half (and down the sides).
  back = _ellipse(yy, xx, cy - 0.12, cx, hy * 1.05, hx * 1.28)
  _paint(image, _coverage(np.maximum(back, yy - (cy + 0.25 * hy)), pixel), hair)
  # Neck and face.
  neck = np.maximum(abs(xx - cx) - 0.45 * hx, cy + 0.5 * hy - yy)
  _paint(image, _coverage(neck, pixel), np.asarray(f.skin) * 0.85)
  _paint(image, _coverage(_ellipse(yy, xx, cy, cx, hy, hx), pixel), f.skin)
  if f.has("Bangs"):  # a fringe over the forehead down to a wavy edge above the brows
    edge = cy - 0.42 * hy + 0.025 * np.sin((xx - cx) * 40)
    inside = _ellipse(yy, xx, cy - 0.05, cx, hy * 1.02, hx * 1.04)
    _paint(image, _coverage(np.maximum(inside, yy - edge), pixel), hair)
  eye_y = cy - 0.2 * hy
  for side in (-1, 1):
    ex = cx + side * f.eye_spacing
    _paint(image, _coverage(_ellipse(yy, xx, eye_y, ex, f.eye_size * 1.1, f.eye_size * 1.7),
                            pixel), (245, 245, 245))
    _paint(image, _coverage(_ellipse(yy, xx, eye_y, ex, f.eye_size, f.eye_size), pixel),
           (40, 30, 25))
    brow = np.maximum(abs(xx - ex) - f.eye_size * 1.8, abs(yy - (eye_y - 2.4 * f.eye_size))
                      - 0.012)
    _paint(image, _coverage(brow, pixel), hair * 0.7)
  if f.has("Eyeglasses"):  # two dark rims and a bridge
    radius = f.eye_size * 2.6
    for side in (-1, 1):
      ring = abs(np.hypot(yy - eye_y, xx - cx - side * f.eye_spacing) - radius) - 0.018
      _paint(image, _coverage(ring, pixel), (20, 20, 25))
    bridge = np.maximum(abs(xx - cx) - (f.eye_spacing - radius), abs(yy - eye_y) - 0.014)
    _paint(image, _coverage(bridge, pixel), (20, 20, 25))
  nose = np.maximum(abs(xx - cx) - 0.02, abs(yy - (cy + 0.08 * hy)) - 0.1 * hy)
  _paint(image, 0.5 * _coverage(nose, pixel), np.asarray(f.skin) * 0.75)
  mouth_y = cy + 0.45 * hy
  u = (xx - cx) / f.mouth_width
  if f.has("Smiling"):  # an open smile: a crescent curving up at the corners, teeth inside
    upper = mouth_y - 0.05 * u ** 2
    lower = mouth_y + 0.075 - 0.12 * u ** 2
    lips = np.maximum(np.maximum(upper - yy, yy - lower), (abs(u) - 1.1) * f.mouth_width)
    _paint(image, _coverage(lips, pixel), (120, 25, 35))
    teeth = np.maximum(np.maximum(upper + 0.008 - yy, yy - (upper + 0.035)),
                       (abs(u) - 0.7) * f.mouth_width)
    _paint(image, _coverage(teeth, pixel), (250, 250, 245))
  else:  # closed lips, a straight line
    lips = np.maximum(abs(yy - mouth_y) - 0.018, (abs(u) - 0.85) * f.mouth_width)
    _paint(image, _coverage(lips, pixel), (160, 70, 70))
  if f.has("Mustache"):  # a band between nose and mouth in a darker shade of the hair
    band = mouth_y - 0.075 + 0.03 * abs(u)
    shape = np.maximum(abs(yy - band) - 0.035, (abs(u) - 1.1) * f.mouth_width)
    _paint(image, _coverage(shape, pixel), hair * 0.5 + 8)
  return np.clip(image * f.light, 0, 255).astype(np.uint8)


def draw(seed: int, split: str, index: int, size: int) -> dict:
  f = face(seed, split, index)
  return {"image": render(f, size), "attributes": np.asarray(f.attributes, np.int32),
          "label": np.int32(HAIR_COLOURS.index(f.hair))}


def source(data_config, split: str):
  return stand_in.DrawnSource("faces", draw, data_config, split, data_config.image_size)


def example_shape(data_config):
  return (data_config.image_size, data_config.image_size, 3)


def preprocess(data_config, train: bool):
  """Optional horizontal flips in training (the faces are symmetric but for the bangs'
  wave and the background); images pass as uint8."""
  def fn(record, rng):
    image = record["image"]
    if train and data_config.get("random_flip", False):
      image = image_transforms.random_flip(image, rng)
    return {"image": np.ascontiguousarray(image), "attributes": record["attributes"],
            "label": record["label"]}
  return fn


def validate(data_config, record):
  image = np.asarray(record["image"])
  size = data_config.image_size
  if image.shape != (size, size, 3) or image.dtype != np.uint8:
    raise BadRecordError(f"face image of shape {image.shape} {image.dtype}, expected "
                         f"({size}, {size}, 3) uint8")
