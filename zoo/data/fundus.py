"""Embedded stand-in for diabetic retinopathy grading: procedurally drawn fundus photographs.

NOT a real dataset. Each record is drawn from `(seed, split, index)` alone, so the set is
deterministic, needs no files, and any index can be read in any order. An image is a
fundus disc on a black frame of random size and aspect (cut at the top and bottom when
the frame is lower than the disc, as many EyePACS photographs are), so the same disc
crop as the real loader (`diabetic_retinopathy.preprocess`) is needed. The disc is
orange-red with colour, texture and illumination (falloff, gradient) varying by image; it
has a pale optic disc with a cup, branching arcades of arteries and veins, a darker
macula and now and then a lens-dust shadow.

The grade is set by the lesions, after the ICDR scale (Wilkinson et al. 2003) that
Gulshan et al. (JAMA 2016) graded with:
  0 none: no lesions.
  1 mild: 1-4 microaneurysms (tiny dark red dots) only.
  2 moderate: 2-8 microaneurysms with 1-5 small blot haemorrhages and/or a cluster of
    hard exudates (yellow specks) near the macula.
  3 severe: 5-8 haemorrhages in each of the four quadrants, microaneurysms, maybe
    exudates; venous beading in half of them.
  4 proliferative: microaneurysms and haemorrhages, plus neovascularisation (tufts of
    fine tortuous vessels at the optic disc or along an arcade) and/or a boat-shaped
    preretinal haemorrhage.
Lesions are sized relative to the disc (a microaneurysm's radius is 2% of the disc's, a
tuft's 8-12%), so they stay visible at the 128-160 pixel inputs of CPU runs; mild vs
moderate rests on a few small blots or specks, a much finer call than none vs
proliferative.

Grades come in blocks of 20 consecutive indices, each holding 8 none, 3 mild, 5 moderate,
2 severe and 2 proliferative in a shuffled order: 40/15/25/10/10 %, between EyePACS'
(about 73/7/15/2.5/2 %) and balanced, so 45% are referable (grade >= 2) and a short run
sees plenty of each class; any 20-aligned window of a split has these exact shares.
Drawing takes about 3 ms of one CPU core for a 128-pixel disc, 4 ms at 160 and 11 ms at
299 (numpy, vectorised but for one small window per lesion).
"""
import dataclasses

import numpy as np

from zoo.data import diabetic_retinopathy, stand_in

GRADE_NAMES = diabetic_retinopathy.GRADE_NAMES
NUM_CLASSES = len(GRADE_NAMES)
STAND_IN = True
DESCRIPTION = ("embedded stand-in: procedurally drawn fundus photographs with diabetic "
               "retinopathy lesions (not a real dataset)")
_GRADE_SLOTS = np.repeat(np.arange(NUM_CLASSES), (8, 3, 5, 2, 2))  # one block of indices
_GRADE_STREAM = 7919  # keeps the grade's random stream apart from the image's
_CURVE_STEPS = 250  # points per unit length of a drawn curve (the disc's radius is 1)

# Colours: multiplicative tints for dark features, colours for pale ones (RGB in [0, 1]).
_VEIN_TINT = np.array([0.52, 0.22, 0.28], np.float32)
_ARTERY_TINT = np.array([0.72, 0.42, 0.42], np.float32)
_BLOOD_TINT = np.array([0.42, 0.16, 0.18], np.float32)
_NEW_VESSEL_TINT = np.array([0.5, 0.2, 0.22], np.float32)
_MACULA_TINT = np.array([0.72, 0.6, 0.72], np.float32)
_DUST_TINT = np.array([0.75, 0.75, 0.78], np.float32)
_OPTIC_DISC = np.array([1.0, 0.8, 0.55], np.float32)
_OPTIC_CUP = np.array([1.0, 0.93, 0.78], np.float32)
_EXUDATE = np.array([1.0, 0.88, 0.42], np.float32)


@dataclasses.dataclass
class Plan:
  """Where an eye's features and lesions are, in disc units (centre 0, radius 1, y down).

  Lesion arrays have a row (y, x, radius) per lesion; a haemorrhage adds the offset
  (dy, dx) of a satellite blot that makes it irregular. `new_vessels` are the tufts'
  curves, each an array of (y, x) points.
  """
  grade: int
  optic_disc: tuple
  macula: tuple
  microaneurysms: np.ndarray
  haemorrhages: np.ndarray
  exudates: np.ndarray
  new_vessels: list
  preretinal: np.ndarray
  beading: bool

  def lesion_counts(self) -> dict:
    return {"microaneurysms": len(self.microaneurysms),
            "haemorrhages": len(self.haemorrhages), "exudates": len(self.exudates),
            "new_vessel_tufts": len(self.new_vessels),
            "preretinal_haemorrhages": len(self.preretinal)}


def grade(seed: int, split: str, index: int) -> int:
  """The ICDR grade of record `index`: its slot in its block of 20, shuffled per block."""
  block, slot = divmod(index, len(_GRADE_SLOTS))
  rng = np.random.default_rng([_GRADE_STREAM, seed, stand_in.SPLIT_IDS[split], block])
  return int(_GRADE_SLOTS[rng.permutation(len(_GRADE_SLOTS))[slot]])


def _record_rng(seed, split, index):
  return np.random.default_rng([seed, stand_in.SPLIT_IDS[split], index])


def _scatter(rng, count, avoid, r_max=0.85, angles=(0.0, 2 * np.pi)):
  """`count` points uniform over a sector of the disc, off the circle `avoid` (y, x, r)."""
  points = np.zeros((0, 2))
  while len(points) < count:
    radius = r_max * np.sqrt(rng.uniform(0.02, 1, 4 * count))
    angle = rng.uniform(*angles, 4 * count)
    new = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    far = np.hypot(new[:, 0] - avoid[0], new[:, 1] - avoid[1]) > avoid[2] + 0.04
    points = np.concatenate([points, new[far]])
  return points[:count]


def _blots(rng, points, r_low, r_high):
  """(y, x, r) rows at `points` with radii uniform in [r_low, r_high]."""
  radii = rng.uniform(r_low, r_high, len(points))
  return np.concatenate([points, radii[:, None]], axis=1).reshape(-1, 3)


def _haemorrhages(rng, points, r_low, r_high):
  """Blots with a satellite each, offset by half to one radius in a random direction."""
  blots = _blots(rng, points, r_low, r_high)
  angle = rng.uniform(0, 2 * np.pi, len(blots))
  reach = blots[:, 2] * rng.uniform(0.5, 1.0, len(blots))
  return np.concatenate([blots, np.stack([reach * np.sin(angle), reach * np.cos(angle)],
                                         axis=1)], axis=1).reshape(-1, 5)


def _exudate_cluster(rng, macula, count):
  """Hard exudates: yellow specks clustered near the macula."""
  angle, distance = rng.uniform(0, 2 * np.pi), rng.uniform(0.1, 0.3)
  centre = np.array([macula[0] + distance * np.sin(angle), macula[1] + distance * np.cos(angle)])
  return _blots(rng, centre + rng.normal(0, 0.05, (count, 2)), 0.012, 0.022)


def _walk(rng, start, angle, length, curl, wiggle):
  """A curve of (y, x) points: a walk whose heading turns by `curl` per unit length plus
  noise of `wiggle` (radians per square root of unit length)."""
  steps = max(2, int(length * _CURVE_STEPS))
  step = length / steps
  turns = curl * step + rng.normal(0, wiggle * np.sqrt(step), steps)
  heading = angle + np.cumsum(turns)
  return np.asarray(start) + np.cumsum(
      step * np.stack([np.sin(heading), np.cos(heading)], axis=1), axis=0)


def _tuft(rng, centre, radius):
  """Neovascularisation: 5-8 short, tightly curling thin vessels around `centre`."""
  curves = []
  for _ in range(rng.integers(5, 9)):
    start = np.asarray(centre) + rng.uniform(-0.6, 0.6, 2) * radius
    curl = rng.choice([-1, 1]) * rng.uniform(1.5, 3) / radius  # loops of 1/3-2/3 its radius
    curves.append(_walk(rng, start, rng.uniform(0, 2 * np.pi), rng.uniform(1.5, 2.5) * radius,
                        curl, 6.0))
  return np.concatenate(curves)


def plan(seed: int, split: str, index: int) -> Plan:
  """The anatomy and lesions of record `index` (the first draws of its random stream)."""
  return _plan(_record_rng(seed, split, index), grade(seed, split, index))


def _plan(rng, label) -> Plan:
  eye = rng.choice([-1, 1])  # which side the optic disc is on (right or left eye)
  od_y = rng.uniform(-0.08, 0.08)
  optic_disc = (od_y, eye * rng.uniform(0.38, 0.48), rng.uniform(0.13, 0.16))
  macula = (od_y + rng.uniform(0.02, 0.1), -eye * rng.uniform(0.2, 0.3), rng.uniform(0.18, 0.24))
  none3, none5 = np.zeros((0, 3)), np.zeros((0, 5))
  microaneurysms, haemorrhages, exudates, preretinal = none3, none5, none3, none3
  new_vessels, beading = [], False
  ma_counts = {1: (1, 5), 2: (2, 9), 3: (5, 16), 4: (3, 13)}
  if label:
    microaneurysms = _blots(rng, _scatter(rng, rng.integers(*ma_counts[label]), optic_disc),
                            0.018, 0.026)
  if label == 2:
    kind = rng.integers(3)  # 0: haemorrhages, 1: exudates, 2: both
    if kind != 1:
      haemorrhages = _haemorrhages(rng, _scatter(rng, rng.integers(1, 6), optic_disc), 0.03, 0.05)
    if kind != 0:
      exudates = _exudate_cluster(rng, macula, rng.integers(3, 10))
  if label == 3:
    quadrants = [_scatter(rng, rng.integers(5, 9), optic_disc,
                          angles=(q * np.pi / 2, (q + 1) * np.pi / 2)) for q in range(4)]
    haemorrhages = _haemorrhages(rng, np.concatenate(quadrants), 0.025, 0.06)
    if rng.random() < 0.5:
      exudates = _exudate_cluster(rng, macula, rng.integers(4, 13))
    beading = bool(rng.random() < 0.5)
  if label == 4:
    haemorrhages = _haemorrhages(rng, _scatter(rng, rng.integers(2, 13), optic_disc), 0.025, 0.06)
    kind = rng.integers(3)  # 0: new vessels, 1: preretinal haemorrhage, 2: both
    if kind != 1:
      for _ in range(rng.integers(1, 3)):
        if rng.random() < 0.6:  # at the disc (NVD), else elsewhere (NVE)
          angle = rng.uniform(0, 2 * np.pi)
          centre = (optic_disc[0] + 0.12 * np.sin(angle), optic_disc[1] + 0.12 * np.cos(angle))
        else:
          centre = _scatter(rng, 1, optic_disc, r_max=0.7)[0]
        new_vessels.append(_tuft(rng, centre, rng.uniform(0.08, 0.12)))
    if kind != 0:
      preretinal = _blots(rng, _scatter(rng, 1, optic_disc, r_max=0.6), 0.08, 0.14)
  return Plan(label, optic_disc, macula, microaneurysms, haemorrhages, exudates,
              new_vessels, preretinal, beading)


def _blur(a: np.ndarray) -> np.ndarray:
  """A [1, 2, 1] / 4 binomial blur along both axes (edges kept)."""
  a = a.copy()
  a[1:-1] = 0.25 * a[:-2] + 0.5 * a[1:-1] + 0.25 * a[2:]
  a[:, 1:-1] = 0.25 * a[:, :-2] + 0.5 * a[:, 1:-1] + 0.25 * a[:, 2:]
  return a


def _trace(n, curves, width):
  """Coverage [n, n] in [0, 1] of curves (disc units) drawn `width` pixels wide."""
  if not curves:
    return np.zeros((n, n), np.float32)
  points = (np.concatenate(curves) + 1) * (n / 2)
  reach = max(0.5, width / 2)
  grid = np.arange(-int(reach), int(reach) + 1)
  dy, dx = [d.ravel() for d in np.meshgrid(grid, grid, indexing="ij")]
  brush = np.hypot(dy, dx) <= reach
  ys = (points[:, :1] + dy[brush]).astype(np.int64).ravel()
  xs = (points[:, 1:] + dx[brush]).astype(np.int64).ravel()
  inside = (ys >= 0) & (ys < n) & (xs >= 0) & (xs < n)
  hits = np.bincount(ys[inside] * n + xs[inside], minlength=n * n)
  return _blur((hits > 0).reshape(n, n).astype(np.float32))


def _stamp(cover, n, blots, boat=False):
  """Antialiased discs (y, x, r in disc units) maxed into `cover` [n, n], one small window
  each; `boat` flattens their top third (a preretinal haemorrhage's fluid level)."""
  scale = n / 2
  for y, x, r in blots:
    cy, cx, radius = (y + 1) * scale, (x + 1) * scale, r * scale
    y0, y1 = max(int(cy - radius - 1), 0), min(int(cy + radius + 2), n)
    x0, x1 = max(int(cx - radius - 1), 0), min(int(cx + radius + 2), n)
    if y0 >= y1 or x0 >= x1:
      continue
    yy = np.arange(y0, y1)[:, None] + 0.5 - cy
    xx = np.arange(x0, x1)[None, :] + 0.5 - cx
    alpha = np.clip(radius + 0.5 - np.hypot(yy, xx), 0, 1)
    if boat:
      alpha = alpha * np.clip(yy + radius / 3 + 0.5, 0, 1)
    np.maximum(cover[y0:y1, x0:x1], alpha, out=cover[y0:y1, x0:x1])


def _vessel_tree(rng, optic_disc):
  """(veins, arteries, vein trunks): curves of the four arcades leaving the optic disc.

  Headings are angles of (dy, dx). The temporal arcades (toward the macula) are long and
  arch above and below it; the nasal ones are shorter and straighter. Each arcade is a
  vein and an artery side by side, each with 2-3 branches.
  """
  veins, arteries, trunks = [], [], []
  for inferior in (False, True):
    for temporal in (True, False):
      for vessels in (veins, arteries):
        tilt, curl = rng.uniform(0.35, 0.65), rng.uniform(1.0, 1.5)
        # Superior arcades of an eye whose optic disc is on the right (macula on the left):
        heading, curl = (-np.pi / 2 - tilt, -curl) if temporal else (-np.pi / 2 + tilt, 0.6 * curl)
        if inferior:
          heading, curl = -heading, -curl
        if optic_disc[1] < 0:  # the other eye: mirror left-right
          heading, curl = np.pi - heading, -curl
        length = rng.uniform(1.0, 1.3) if temporal else rng.uniform(0.55, 0.8)
        start = np.asarray(optic_disc[:2]) + 0.4 * optic_disc[2] * np.array(
            [np.sin(heading), np.cos(heading)])  # from the rim of the cup
        trunk = _walk(rng, start, heading, length, curl, 0.25)
        vessels.append(trunk)
        if vessels is veins:
          trunks.append(trunk)
        for _ in range(rng.integers(2, 4)):
          at = rng.integers(len(trunk) // 4, len(trunk) * 4 // 5)
          dy, dx = trunk[at + 1] - trunk[at]
          offset = rng.choice([-1, 1]) * rng.uniform(0.5, 1.1)
          vessels.append(_walk(rng, trunk[at], np.arctan2(dy, dx) + offset,
                               rng.uniform(0.25, 0.5), 0, 0.6))
  return veins, arteries, trunks


def _shade(albedo, weight, tint):
  """Darkens `albedo` [n, n, 3] toward `albedo * tint` by `weight` [n, n] in [0, 1], only
  where the weight is over 0.005 (layers are sparse: this is most of the drawing's speed)."""
  where = np.nonzero(weight > 0.005)
  albedo[where] *= 1 - weight[where][:, None] * (1 - tint)


def _paint(albedo, weight, colour):
  """Mixes `albedo` toward `colour` by `weight`, as sparsely as `_shade`."""
  where = np.nonzero(weight > 0.005)
  albedo[where] += weight[where][:, None] * (colour - albedo[where])


def _wave(rng, u, v):
  """sin(f (u cos(phi) + v sin(phi)) + phase) [n, n] from 1-d factors (sin(a+b) expanded)."""
  f, phi, phase = rng.uniform(3, 9), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
  a, b = f * np.cos(phi) * u + phase, f * np.sin(phi) * v
  return np.sin(a) * np.cos(b) + np.cos(a) * np.sin(b)


def _render(rng, p: Plan, n: int, lesions: bool) -> np.ndarray:
  """The fundus disc of plan `p` on an n x n black square, float RGB in [0, 255]."""
  c = ((np.arange(n) + 0.5) / n * 2 - 1).astype(np.float32)
  v, u = c[:, None], c[None, :]
  r2 = v * v + u * u
  base = np.array([rng.uniform(0.72, 0.95), rng.uniform(0.26, 0.42), rng.uniform(0.07, 0.17)],
                  np.float32)
  texture = 1 + sum(rng.uniform(0.02, 0.05) * _wave(rng, u, v) for _ in range(3))
  albedo = base * texture[..., None]  # choroidal mottling: a few low-frequency waves

  my, mx, mr = p.macula
  spread = 0.5 * mr * mr
  _shade(albedo, rng.uniform(0.6, 1.0) * np.exp(-(v - my) ** 2 / spread)
         * np.exp(-(u - mx) ** 2 / spread), _MACULA_TINT)
  optic_disc, cup = np.zeros((n, n), np.float32), np.zeros((n, n), np.float32)
  _stamp(optic_disc, n, [p.optic_disc])
  _stamp(cup, n, [p.optic_disc[:2] + (0.45 * p.optic_disc[2],)])
  _paint(albedo, optic_disc, _OPTIC_DISC)
  _paint(albedo, 0.8 * _blur(cup), _OPTIC_CUP)

  veins, arteries, trunks = _vessel_tree(rng, p.optic_disc)
  vein_cover = _trace(n, veins, 0.016 * n)
  if lesions and p.beading:  # venous beading: swellings every 0.08 along each trunk's first 60%
    beads = np.concatenate([t[20:len(t) * 3 // 5:20] for t in trunks])
    _stamp(vein_cover, n, np.concatenate([beads, np.full((len(beads), 1), 0.022)], axis=1))
  _shade(albedo, vein_cover, _VEIN_TINT)
  _shade(albedo, _trace(n, arteries, 0.011 * n), _ARTERY_TINT)

  dust = np.zeros((n, n), np.float32)
  _stamp(dust, n, _blots(rng, _scatter(rng, rng.integers(0, 3), p.optic_disc), 0.03, 0.05))
  _shade(albedo, 0.35 * _blur(_blur(dust)), _DUST_TINT)

  if lesions:
    blood = np.zeros((n, n), np.float32)
    _stamp(blood, n, p.microaneurysms)
    y, x, r, dy, dx = p.haemorrhages.T
    _stamp(blood, n, p.haemorrhages[:, :3])
    _stamp(blood, n, np.stack([y + dy, x + dx, 0.65 * r], axis=1))  # satellite blots
    _stamp(blood, n, p.preretinal, boat=True)
    _shade(albedo, blood, _BLOOD_TINT)
    _shade(albedo, _trace(n, p.new_vessels, 1.0), _NEW_VESSEL_TINT)
    exudates = np.zeros((n, n), np.float32)
    _stamp(exudates, n, p.exudates)
    _paint(albedo, exudates, _EXUDATE)

  falloff, gradient, tilt = rng.uniform(0.3, 0.55), rng.uniform(0, 0.2), rng.uniform(0, 2 * np.pi)
  light = 255 * rng.uniform(0.55, 1.05) * (1 - falloff * r2) * (
      1 + gradient * (u * np.cos(tilt) + v * np.sin(tilt)))
  edge = np.clip((1 - np.sqrt(r2)) * (n / 2) + 0.5, 0, 1)
  return albedo * (light * edge)[..., None]


def draw(seed: int, split: str, index: int, size: int, lesions: bool = True) -> dict:
  """Record `index` of `split`: {'image': uint8 [H, W, 3], 'label': int grade}.

  The disc's diameter is `size` give or take 10%; the frame is 0.88-1.2 diameters high
  and 1.1-1.55 wide. `lesions=False` draws the same eye without its lesions.
  """
  rng = _record_rng(seed, split, index)
  p = _plan(rng, grade(seed, split, index))
  n = int(round(size * rng.uniform(0.9, 1.1)))
  height, width = int(round(n * rng.uniform(0.88, 1.2))), int(round(n * rng.uniform(1.1, 1.55)))
  top = (height - n) // 2 if height < n else int(rng.integers(0, height - n + 1))
  left = int(rng.integers(0, width - n + 1))
  fundus = _render(rng, p, n, lesions)
  noise = rng.uniform(3, 8)  # sensor noise, uniform in [-noise, noise]
  image = (rng.random((height, width, 3), dtype=np.float32) - 0.5) * (2 * noise)
  rows = slice(max(top, 0), min(top + n, height))
  image[rows, left:left + n] += fundus[rows.start - top:rows.stop - top]
  return {"image": np.clip(image, 0, 255).astype(np.uint8), "label": p.grade}


def source(data_config, split: str):
  """Drawn with the disc about `image_size` across, as the real loader's input."""
  return stand_in.DrawnSource("fundus", draw, data_config, split, data_config.image_size,
                              label=grade)


def preprocess(data_config, train: bool):
  return diabetic_retinopathy.preprocess(data_config, train)


def validate(data_config, record):
  diabetic_retinopathy.validate(data_config, record)
