"""A tiny UCF101 tree in the real format, written by the tests: real XVID .avi files,
CRLF lists with a blank last line, test lists without labels, the HandstandPushups /
v_HandStandPushups case quirk (and one list line in yet another case), one clip truncated
mid-way, one empty file and one listed-but-missing clip. Split 1 tests on group 1, split 2
on group 2."""
import atexit
import functools
import os
import shutil
import tempfile

import cv2
import numpy as np

from zoo.data.prepare import ucf101 as prepare_ucf101
from zoo.data.prepare import ucf101_stand_in

CLASSES = ("ApplyEyeMakeup", "HandstandPushups", "YoYo")
FILE_CLASS = {"HandstandPushups": "HandStandPushups"}  # the real files' spelling
HEIGHT, WIDTH = 48, 64
GROUPS = (1, 2, 3, 4)
TRUNCATED = "UCF-101/YoYo/v_YoYo_g01_c01.avi"  # 30 frames, cut to 60% of its bytes
EMPTY = "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g03_c01.avi"
MISSING = "UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g04_c02.avi"
CLIPS_PER_SHARD = 4


def clip_frames(label: int, group: int, clip: int) -> int:
  """Source frames (25 fps) of a clip: 8 to 30, so 4 to 12 are kept at 10 fps."""
  return 8 + (7 * label + 5 * group + 3 * clip) % 23


def write_avi(path, frames, fps=25.0):
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"XVID"), fps, frames.shape[2:0:-1])
  for frame in frames:
    writer.write(frame[..., ::-1])
  writer.release()


def write_tree(root: str) -> list[tuple[str, int, int]]:
  """Writes the tree; returns (listed path, label, group) of every listed clip."""
  listed = []
  motions = ("sliding", "spinning", "bouncing")
  for label, name in enumerate(CLASSES):
    folder = os.path.join(root, "UCF-101", name)
    os.makedirs(folder)
    for group in GROUPS:
      for clip in (1, 2) if group == 4 else (1,):
        file = f"v_{FILE_CLASS.get(name, name)}_g{group:02d}_c{clip:02d}.avi"
        rel = f"{name}/{file}"
        listed.append((rel, label, group))
        if f"UCF-101/{rel}" == MISSING:
          continue
        rng = np.random.default_rng([label, group, clip])
        frames = ucf101_stand_in.render_clip(
            "ball", motions[label], rng, height=HEIGHT, width=WIDTH,
            num_frames=clip_frames(label, group, clip))
        write_avi(os.path.join(folder, file), frames)
  with open(os.path.join(root, TRUNCATED), "r+b") as f:
    f.truncate(os.path.getsize(os.path.join(root, TRUNCATED)) * 6 // 10)
  open(os.path.join(root, EMPTY), "wb").close()
  lists = os.path.join(root, "ucfTrainTestlist")
  os.makedirs(lists)

  def write(name, lines):
    with open(os.path.join(lists, name), "wb") as f:
      f.write(("\r\n".join(lines) + "\r\n\r\n").encode())

  write("classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(CLASSES)])
  for split, test_group in ((1, 1), (2, 2)):
    train = [f"{p} {label + 1}" for p, label, g in listed if g != test_group]
    # a list line in another case than the file on disk: found all the same
    train = [line.replace("HandStandPushups_g03", "HandstandPushups_g03") for line in train]
    write(f"trainlist{split:02d}.txt", train)
    write(f"testlist{split:02d}.txt", [p for p, _, g in listed if g == test_group])
  return listed


@functools.lru_cache(maxsize=None)
def prepared() -> tuple[str, str]:
  """(src, dst): the tree, prepared once per test process (1 worker, Farneback)."""
  root = tempfile.mkdtemp(prefix="ucf101_tree_")
  atexit.register(shutil.rmtree, root, ignore_errors=True)
  src, dst = os.path.join(root, "src"), os.path.join(root, "dst")
  write_tree(src)
  prepare_ucf101.prepare(src, dst, splits=(1, 2), workers=1, progress=False,
                         clips_per_shard=CLIPS_PER_SHARD)
  return src, dst


def shard_bytes(dst: str) -> dict:
  """Every shard file's bytes by name."""
  return {n: open(os.path.join(dst, n), "rb").read() for n in sorted(os.listdir(dst))
          if n.startswith("shard-")}
