"""UCF101 (Soomro, Zamir, Shah, arXiv 1212.0402) from its official download to ArrayRecord
shards of RGB frames and dense optical flow: the input of Video2Vec (Li, Hu, Li, ICIP
2016), which reads frames and flow at 10 fps as two-stream networks do (Simonyan &
Zisserman, NeurIPS 2014).

  python -m zoo.data.prepare.ucf101 --src=DIR --dst=DIR [--splits=1,2,3] [--fps=10]
      [--flow=farneback|tvl1] [--workers=N] [--shard=I/N] [--restart]

`--src` holds `UCF-101/CLASS/v_CLASS_gGG_cCC.avi` and `ucfTrainTestlist/` (`classInd.txt`,
`trainlist0N.txt` with labels, `testlist0N.txt` without) as the two archives unpack. The
lists are read as the real files are: CRLF line ends, a byte-order mark, blank lines, and
file names whose case differs from their folder's (`HandstandPushups/v_HandStandPushups_..`)
or from the list's (files are looked up regardless of case). A malformed or missing list,
or a line naming an unknown class, is a one-line error naming the file and line; so are
splits whose train and test share a group (UCF101's splits are by group, `gGG`).

Each clip is decoded (OpenCV's FFmpeg), its frames kept at `fps` (the first frame at or
after each tick k/fps), and dense optical flow computed between consecutive kept frames
(Farneback or TV-L1), clipped to +-`bound` pixels and quantised to uint8 (128 = no motion,
see `quantise_flow`). A record is one clip: msgpack of its name, path, label, group and
JPEG frames (RGB, and flow with x above y in one greyscale image); `decode_record` reads
it. A clip that is listed but missing, does not open, decodes to fewer than two frames or
stops well before the frame count its header announces (truncated) is skipped, logged and
listed with its reason in the manifest.

`--dst` gets:
  settings.json                           the settings; a run asking others is refused
  shard-SSSSS-of-NNNNN.array_record       the records of a fixed run of clips
  shard-SSSSS-of-NNNNN.json               that shard's clips and skipped clips
  manifest.json                           once every shard is finished (see `prepare`)
A shard is written under a temporary name and renamed when complete, its .json last, so a
killed run never leaves a half-written shard that looks finished; a re-run redoes only the
unfinished shards, which come out byte for byte as an uninterrupted run writes them.
Clips are decoded in worker processes (one per core by default) and written in list order
by this process, so the shards do not depend on the number of workers.
"""
import argparse
import collections
from concurrent import futures
import dataclasses
import glob
import hashlib
import json
import logging as py_logging
import math
import multiprocessing
import os
import re
import sys
import threading
import time

import cv2
import msgpack
import numpy as np
from absl import logging

FORMAT = 1
FLOW_METHODS = ("farneback", "tvl1")
DEFAULT_FLOW = "farneback"  # ~28x cheaper than TV-L1 on the CPU (README, REFERENCES.md)
FLOW_BOUND = 20.0  # pixels: the usual range of two-stream flow images
RGB_QUALITY = 90
FLOW_QUALITY = 95
CLIPS_PER_SHARD = 64
VIDEO_DIR = "UCF-101"
LIST_DIR = "ucfTrainTestlist"
STAND_IN_MARKER = "ZOO_STAND_IN.json"  # written by zoo.data.prepare.ucf101_stand_in
SETTINGS = "settings.json"
MANIFEST = "manifest.json"
_CLIP_NAME = re.compile(r"v_([A-Za-z0-9]+)_g(\d+)_c(\d+)\.avi", re.IGNORECASE)


class PrepareError(ValueError):
  """Input or settings the step cannot use: a one-line message naming the file or flag."""


class ClipError(ValueError):
  """One clip cannot be used; the clip is skipped with this reason."""


@dataclasses.dataclass(frozen=True)
class Clip:
  name: str  # v_CLASS_gGG_cCC, as listed
  listed: str  # UCF-101/CLASS/FILE.avi, as listed
  label: int  # 0-based, classInd.txt order
  group: int
  file: str | None  # the path relative to --src as found on disk (any case), None if missing


# ---------------------------------------------------------------------------------------
# Class names and lists.

def class_words(folder_name: str) -> list[str]:
  """'ApplyEyeMakeup' -> ['apply', 'eye', 'makeup'], 'YoYo' -> ['yo', 'yo']: the words of
  a CamelCase class name, lowercase (runs of capitals such as 'NBA' stay one word)."""
  return [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", folder_name)]


def _lines(path: str):
  """(line number, stripped line) of the non-blank lines of a text list."""
  if not os.path.isfile(path):
    raise PrepareError(f"{path}: missing (expected the official {LIST_DIR}/ folder next to "
                       f"{VIDEO_DIR}/ in --src)")
  with open(path, "rb") as f:
    data = f.read()
  try:
    text = data.decode("utf-8-sig")
  except UnicodeDecodeError as e:
    raise PrepareError(f"{path}: not a text file ({e})") from None
  for number, line in enumerate(text.splitlines(), 1):  # \r\n, \n and \r alike
    if line.strip():
      yield number, line.strip()


def read_classes(list_dir: str) -> list[str]:
  """The class folder names of `classInd.txt` ('1 ApplyEyeMakeup' ...) in index order."""
  path = os.path.join(list_dir, "classInd.txt")
  by_index = {}
  for number, line in _lines(path):
    m = re.fullmatch(r"(\d+)\s+([A-Za-z0-9_-]+)", line)
    if not m:
      raise PrepareError(f"{path}:{number}: expected 'INDEX CLASS' (e.g. '1 ApplyEyeMakeup'), "
                         f"got {line!r}")
    index, name = int(m[1]), m[2]
    if index in by_index:
      raise PrepareError(f"{path}:{number}: index {index} given twice")
    if name in by_index.values():
      raise PrepareError(f"{path}:{number}: class '{name}' given twice")
    by_index[index] = name
  if not by_index:
    raise PrepareError(f"{path}: no classes")
  if sorted(by_index) != list(range(1, len(by_index) + 1)):
    missing = sorted(set(range(1, max(by_index) + 1)) - set(by_index))
    raise PrepareError(f"{path}: indices must run 1..{len(by_index)}; missing {missing[:5]}")
  return [by_index[i] for i in range(1, len(by_index) + 1)]


def read_list(path: str, classes: list[str]) -> list[tuple[str, str, int, int]]:
  """(name, listed path, label, group) of each line of a train or test list:
  'CLASS/v_CLASS_gGG_cCC.avi LABEL' (train, LABEL 1-based) or without LABEL (test)."""
  index = {name: i for i, name in enumerate(classes)}
  index_lower = {name.lower(): i for i, name in enumerate(classes)}
  entries = []
  for number, line in _lines(path):
    parts = line.split()
    where = f"{path}:{number}"
    if len(parts) > 2:
      raise PrepareError(f"{where}: expected 'CLASS/v_CLASS_gGG_cCC.avi [LABEL]', got {line!r}")
    folder, file = os.path.split(parts[0].replace("\\", "/"))
    if not folder or "/" in folder:
      raise PrepareError(f"{where}: expected 'CLASS/v_CLASS_gGG_cCC.avi [LABEL]', got {line!r}")
    label = index.get(folder, index_lower.get(folder.lower()))
    if label is None:
      raise PrepareError(f"{where}: unknown class '{folder}' (not in classInd.txt)")
    m = _CLIP_NAME.fullmatch(file)
    if not m:
      raise PrepareError(f"{where}: '{file}' is not a UCF101 clip name v_CLASS_gGG_cCC.avi")
    if len(parts) == 2:
      if not parts[1].isdigit():
        raise PrepareError(f"{where}: label {parts[1]!r} is not a number")
      if int(parts[1]) != label + 1:
        raise PrepareError(f"{where}: label {parts[1]} does not match class '{folder}', "
                           f"which classInd.txt numbers {label + 1}")
    entries.append((file[:-4], f"{VIDEO_DIR}/{folder}/{file}", label, int(m[2])))
  return entries


def _video_files(src: str) -> dict[str, str]:
  """Lower-cased 'UCF-101/CLASS/FILE' -> the path as on disk, for lookups in any case."""
  root = os.path.join(src, VIDEO_DIR)
  if not os.path.isdir(root):
    raise PrepareError(f"--src={src} has no folder {VIDEO_DIR}/ (expected {VIDEO_DIR}/ and "
                       f"{LIST_DIR}/ as the official archives unpack)")
  files = {}
  for folder in os.scandir(root):
    if folder.is_dir():
      for entry in os.scandir(folder.path):
        rel = f"{VIDEO_DIR}/{folder.name}/{entry.name}"
        files.setdefault(rel.lower(), rel)
  return files


def read_split_lists(src: str, splits) -> tuple[list[str], list[Clip], dict]:
  """classes, every clip of the given splits (sorted by label and name), and
  {"N": {"train": [names], "test": [names]}}; checks that no group is on both sides."""
  list_dir = os.path.join(src, LIST_DIR)
  files = _video_files(src)
  classes = read_classes(list_dir)
  clips, split_lists = {}, {}
  for split in splits:
    sides = {}
    for side in ("train", "test"):
      path = os.path.join(list_dir, f"{side}list{split:02d}.txt")
      names = []
      for name, listed, label, group in read_list(path, classes):
        key = name.lower()
        if key not in clips:
          file = files.get(listed.lower())  # its name as on disk where the case differs
          clips[key] = Clip(os.path.basename(file)[:-4] if file else name, listed, label,
                            group, file)
        if clips[key].label != label:
          raise PrepareError(f"{path}: {listed} has label {label + 1} here and "
                             f"{clips[key].label + 1} in another list")
        names.append(clips[key].name)
      sides[side] = list(dict.fromkeys(names))  # once each, in list order
    groups = [{clips[n.lower()].group for n in sides[s]} for s in ("train", "test")]
    if groups[0] & groups[1]:
      raise PrepareError(f"{list_dir}/trainlist{split:02d}.txt and "
                         f"{list_dir}/testlist{split:02d}.txt share groups "
                         f"{sorted(groups[0] & groups[1])[:10]}: UCF101's splits "
                         f"keep each group (gGG) on one side")
    split_lists[str(split)] = sides
  ordered = sorted(clips.values(), key=lambda c: (c.label, c.name.lower()))
  return classes, ordered, split_lists


# ---------------------------------------------------------------------------------------
# Decoding and flow.

def quantise_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
  """Float flow [H, W, 2] in pixels -> uint8: round(f * 128 / bound) + 128 clipped to
  [0, 255], so 128 is no motion and +-bound the ends of the range."""
  return np.clip(np.round(flow * (128.0 / bound)) + 128, 0, 255).astype(np.uint8)


def dequantise_flow(flow: np.ndarray, bound: float = FLOW_BOUND) -> np.ndarray:
  """uint8 flow -> float32 pixels (the inverse of `quantise_flow` within the range)."""
  return (flow.astype(np.float32) - 128) * (bound / 128.0)


_local = threading.local()


def _tvl1():
  """One TV-L1 solver per thread (the object keeps state between calls)."""
  if not hasattr(_local, "tvl1"):
    _local.tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
  return _local.tvl1


def _grey(frame: np.ndarray) -> np.ndarray:
  if frame.ndim == 3 and frame.shape[-1] == 3:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
  return frame.reshape(frame.shape[:2])


def compute_flow(prev: np.ndarray, next_: np.ndarray, method: str = DEFAULT_FLOW,
                 bound: float = FLOW_BOUND) -> np.ndarray:
  """Dense optical flow from `prev` to `next_` (uint8 RGB [H, W, 3] or grey [H, W]) as
  uint8 [H, W, 2] (x, y), quantised over +-bound pixels with 128 = no motion.

  farneback: OpenCV's Farneback (pyramid 0.5 x 3 levels, window 15, 3 iterations,
  poly_n 5, sigma 1.2: OpenCV's tutorial settings); tvl1: OpenCV's Dual TV-L1 with its
  defaults (Zach, Pock, Bischof 2007), the two-stream standard.
  """
  prev, next_ = _grey(prev), _grey(next_)
  if method == "farneback":
    flow = cv2.calcOpticalFlowFarneback(prev, next_, None, 0.5, 3, 15, 3, 5, 1.2, 0)
  elif method == "tvl1":
    flow = _tvl1().calc(prev, next_, None)
  else:
    raise ValueError(f"unknown flow method '{method}'; known: {', '.join(FLOW_METHODS)}")
  return quantise_flow(flow, bound)


def decode_clip(path: str, fps: float, frame_size=None) -> list[np.ndarray]:
  """The BGR frames of a video kept at `fps` (all of them if the video is slower),
  resized to `frame_size` (H, W) if given; `ClipError` if it cannot be used."""
  capture = cv2.VideoCapture(path)
  try:
    if not capture.isOpened():
      raise ClipError("does not open as a video (damaged, truncated or not a video)")
    src_fps = capture.get(cv2.CAP_PROP_FPS)
    if not (math.isfinite(src_fps) and src_fps > 0):
      src_fps = 25.0  # UCF101's rate, when a damaged header does not say
    announced = int(max(0, capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    step = src_fps / fps if fps < src_fps else 1.0
    frames, decoded, wanted = [], 0, 0
    while capture.grab():
      if decoded == wanted:
        ok, frame = capture.retrieve()
        if not ok or frame is None:
          break
        if frame.ndim == 2:
          frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
        if frame_size is not None and frame.shape[:2] != tuple(frame_size):
          frame = cv2.resize(frame, (frame_size[1], frame_size[0]), interpolation=cv2.INTER_AREA)
        frames.append(frame)
        wanted = math.ceil(len(frames) * step - 1e-6)
      decoded += 1
  finally:
    capture.release()
  if decoded == 0:
    raise ClipError("no frame decodes (empty or damaged)")
  if announced and decoded < announced - max(2, announced // 10):
    raise ClipError(f"truncated or damaged: {decoded} of the {announced} frames its header "
                    f"announces decode")
  if len(frames) < 2:
    raise ClipError(f"too short: {len(frames)} frame at {fps:g} fps, optical flow needs 2")
  return frames


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
  ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise ClipError("JPEG encoding failed")
  return data.tobytes()


def encode_clip(clip: Clip, frames: list[np.ndarray], method: str, bound: float) -> bytes:
  """The record of a clip from its BGR frames: msgpack of its fields and JPEG images."""
  grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
  flows = [compute_flow(a, b, method, bound) for a, b in zip(grey, grey[1:])]
  height, width = frames[0].shape[:2]
  return msgpack.packb({
      "name": clip.name, "path": clip.file, "label": clip.label, "group": clip.group,
      "height": height, "width": width,
      "rgb": [encode_jpeg(f, RGB_QUALITY) for f in frames],
      # x above y in one greyscale image: one JPEG per field
      "flow": [encode_jpeg(np.concatenate([f[..., 0], f[..., 1]]), FLOW_QUALITY) for f in flows],
  })


def decode_record(data: bytes) -> dict:
  """A record -> {'rgb': uint8 [T, H, W, 3], 'flow': uint8 [T-1, H, W, 2], 'label',
  'group', 'name', 'path'}; ValueError if it is damaged."""
  fields = msgpack.unpackb(data)
  height, width = fields["height"], fields["width"]

  def image(data, flags):
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
      raise ValueError("a JPEG image of the record does not decode")
    return pixels

  rgb = np.empty((len(fields["rgb"]), height, width, 3), np.uint8)
  for t, data in enumerate(fields["rgb"]):
    rgb[t] = cv2.cvtColor(image(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
  flow = np.empty((len(fields["flow"]), height, width, 2), np.uint8)
  for t, data in enumerate(fields["flow"]):
    xy = image(data, cv2.IMREAD_GRAYSCALE)
    flow[t, ..., 0], flow[t, ..., 1] = xy[:height], xy[height:]
  return {"rgb": rgb, "flow": flow, "label": int(fields["label"]),
          "group": int(fields["group"]), "name": fields["name"], "path": fields["path"]}


def _prepare_clip(job):
  """Worker: (src, clip, fps, method, bound, frame_size) -> (record | None, frames, reason)."""
  src, clip, fps, method, bound, frame_size = job
  try:
    if clip.file is None:
      raise ClipError("listed but missing (no such file, in any case)")
    frames = decode_clip(os.path.join(src, clip.file), fps, frame_size)
    return encode_clip(clip, frames, method, bound), len(frames), None
  except ClipError as e:
    return None, 0, str(e)
  except cv2.error as e:  # OpenCV failing on a damaged stream is the clip's problem
    return None, 0, f"OpenCV: {str(e).strip().splitlines()[-1]}"


def _executor(workers: int):
  # spawn: safe in a process that already runs threads (JAX, grain)
  return futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                     initializer=_init_worker)


def _isolated(fn, job):
  """fn(job) in a process of its own; a (None, 0, reason) result if that process dies."""
  with _executor(1) as executor:
    try:
      return executor.submit(fn, job).result()
    except futures.process.BrokenProcessPool:
      return None, 0, "its worker process died on it (a decoder crash, or out of memory)"


def ordered_results(fn, jobs, workers: int):
  """fn(job) for every job, computed by `workers` processes and yielded in job order, at
  most 4 per worker ahead of the reader. A worker that dies (a decoder crashing on a
  damaged file) does not stop the step: the first job then unfinished is retried in a
  process of its own, its reason recorded if that dies too, and the rest go on."""
  executor, pending, submitted = _executor(workers), collections.deque(), 0
  try:
    while pending or submitted < len(jobs):
      while submitted < len(jobs) and len(pending) < 4 * workers:
        pending.append((submitted, executor.submit(fn, jobs[submitted])))
        submitted += 1
      index, future = pending.popleft()
      try:
        result = future.result()
      except futures.process.BrokenProcessPool:
        executor.shutdown(wait=True, cancel_futures=True)
        result = _isolated(fn, jobs[index])
        executor = _executor(workers)
        pending = collections.deque((k, executor.submit(fn, jobs[k])) for k, _ in pending)
      yield result
    executor.shutdown(wait=True)  # all done: the workers exit (and their CPU time is counted)
  finally:
    executor.shutdown(wait=False, cancel_futures=True)


def _init_worker():
  # One process per core: OpenCV's and FFmpeg's own threads would oversubscribe them.
  os.environ["OPENCV_FFMPEG_THREADS"] = "1"
  cv2.setNumThreads(1)
  parent = os.getppid()

  def exit_with_parent():  # a killed step must not leave its workers behind
    while os.getppid() == parent:
      time.sleep(1)
    os._exit(1)

  threading.Thread(target=exit_with_parent, daemon=True).start()


# ---------------------------------------------------------------------------------------
# Shards, settings and the manifest.

def shard_name(index: int, count: int) -> str:
  return f"shard-{index:05d}-of-{count:05d}"


def _write_json(path: str, value):
  """Written under a temporary name, then renamed: readers see all of it or nothing."""
  tmp = f"{path}.tmp-{os.getpid()}"
  with open(tmp, "w") as f:
    json.dump(value, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def _describe(settings: dict, keys) -> str:
  value = lambda v: f"{v:g}" if isinstance(v, float) else repr(v)
  return ", ".join(f"{k}={value(settings.get(k))}" for k in keys)


def _claim(dst: str, settings: dict, restart: bool):
  """Makes `dst` this preparation's: refuses one prepared with other settings unless
  `restart`, which removes what an earlier preparation wrote (only that)."""
  os.makedirs(dst, exist_ok=True)
  path = os.path.join(dst, SETTINGS)
  old = None
  if os.path.exists(path):
    try:
      with open(path) as f:
        old = json.load(f)
    except ValueError:
      old = {"settings.json": "unreadable"}
  if old is not None and old != settings and not restart:
    keys = [k for k in sorted(set(old) | set(settings)) if old.get(k) != settings.get(k)]
    raise PrepareError(f"--dst={dst} was prepared with {_describe(old, keys)}; this run asks "
                       f"{_describe(settings, keys)} (pass --restart to start over)")
  if restart:
    for path_ in [os.path.join(dst, SETTINGS), os.path.join(dst, MANIFEST)] + glob.glob(
        os.path.join(dst, "shard-*")):
      if os.path.exists(path_):
        os.remove(path_)
  if old != settings or restart:
    _write_json(path, settings)


def _probe_frame_size(src: str, clips: list[Clip]) -> tuple[int, int]:
  """The frame size of the first listed clip that decodes: every clip is stored at it."""
  for clip in clips:
    if clip.file is None:
      continue
    capture = cv2.VideoCapture(os.path.join(src, clip.file))
    ok, frame = capture.read()
    capture.release()
    if ok and frame is not None:
      return frame.shape[:2]
  raise PrepareError(f"--src={src}: no listed clip decodes")


def _finished(dst: str, name: str) -> bool:
  return os.path.exists(os.path.join(dst, name + ".json"))


def _write_shard(dst, name, clips, results, progress, counts):
  """Writes one shard from the results of its clips (in order), atomically."""
  path = os.path.join(dst, name + ".array_record")
  tmp = f"{path}.tmp-{os.getpid()}"
  from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
  writer = array_record_module.ArrayRecordWriter(tmp, "group_size:1")
  info = {"clips": [], "skipped": []}
  try:
    for clip in clips:
      record, num_frames, reason = next(results)
      if record is None:
        logging.warning("skipped %s: %s", clip.file or clip.listed, reason)
        info["skipped"].append({"path": clip.file or clip.listed, "reason": reason})
      else:
        writer.write(record)
        info["clips"].append({"name": clip.name, "path": clip.file, "label": clip.label,
                              "group": clip.group, "frames": num_frames})
      progress.update(1)
      progress.set_postfix(skipped=counts["skipped"] + len(info["skipped"]), refresh=False)
  finally:
    writer.close()
  counts["skipped"] += len(info["skipped"])
  with open(tmp, "rb+") as f:
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _write_json(os.path.join(dst, name + ".json"), info)  # last: marks the shard finished


def _manifest(dst, settings, classes, split_lists, shard_names, stand_in) -> dict:
  records, skipped = [], []
  for shard in shard_names:
    with open(os.path.join(dst, shard + ".json")) as f:
      info = json.load(f)
    skipped += info["skipped"]
    for index, clip in enumerate(info["clips"]):
      records.append(dict(clip, shard=shard + ".array_record", index=index))
  written = {r["name"] for r in records}
  return {
      "dataset": "UCF101", "format": FORMAT, "stand_in": stand_in,
      "classes": classes, "class_words": [class_words(c) for c in classes],
      "splits": {k: {side: [n for n in names if n in written] for side, names in v.items()}
                 for k, v in split_lists.items()},
      "fps": settings["fps"],
      "flow": {"method": settings["flow"], "bound": settings["bound"],
               "quantisation": "uint8 q = clip(round(f * 128 / bound) + 128, 0, 255)",
               "channels": "x, y"},
      "frame_size": settings["frame_size"],
      "num_clips": len(records), "num_frames": sum(r["frames"] for r in records),
      "skipped": skipped, "records": records,
  }


def prepare(src: str, dst: str, *, splits=(1,), fps: float = 10, flow: str = DEFAULT_FLOW,
            workers: int | None = None, shard=(0, 1), restart: bool = False,
            bound: float = FLOW_BOUND, frame_size=None, clips_per_shard: int = CLIPS_PER_SHARD,
            progress: bool = True) -> dict | None:
  """Prepares `src` (the official download) into `dst`; returns the manifest.

  `shard=(I, N)` prepares only shards I, I+N, I+2N, ... (one machine's share); the run
  that finds every shard finished writes the manifest, the others return None.
  `frame_size` (H, W) defaults to the size of the first listed clip (320x240 for UCF101).
  """
  if flow not in FLOW_METHODS:
    raise PrepareError(f"--flow={flow}: unknown method; known: {', '.join(FLOW_METHODS)}")
  if not fps > 0:
    raise PrepareError(f"--fps={fps}: must be positive")
  share, num_shares = shard
  if not 0 <= share < num_shares:
    raise PrepareError(f"--shard={share}/{num_shares}: needs 0 <= I < N")
  splits = sorted({int(s) for s in splits})
  if not splits or not set(splits) <= {1, 2, 3}:
    raise PrepareError(f"--splits={','.join(map(str, splits))}: UCF101 has splits 1, 2, 3")
  classes, clips, split_lists = read_split_lists(src, splits)
  stand_in = os.path.exists(os.path.join(src, STAND_IN_MARKER))
  frame_size = list(frame_size or _probe_frame_size(src, clips))
  digest = hashlib.sha256("\n".join(f"{c.name} {c.label}" for c in clips).encode()).hexdigest()
  settings = {"format": FORMAT, "splits": splits, "fps": float(fps), "flow": flow,
              "bound": float(bound),
              "frame_size": frame_size, "clips_per_shard": clips_per_shard,
              "jpeg_quality": [RGB_QUALITY, FLOW_QUALITY],
              "clips": f"{len(clips)} clips, list digest {digest[:16]}"}
  _claim(dst, settings, restart)

  count = math.ceil(len(clips) / clips_per_shard)
  names = [shard_name(i, count) for i in range(count)]
  todo = [i for i in range(share, count, num_shares) if not _finished(dst, names[i])]
  for i in range(share, count, num_shares):  # what a killed run left of this share's shards
    leftovers = glob.glob(os.path.join(dst, names[i] + ".*.tmp-*"))
    if i in todo:
      leftovers += glob.glob(os.path.join(dst, names[i] + ".*"))
    for leftover in set(leftovers):
      os.remove(leftover)
  jobs = [(src, clip, fps, flow, bound, frame_size)
          for i in todo for clip in clips[i * clips_per_shard:(i + 1) * clips_per_shard]]
  workers = max(1, min(workers or len(os.sched_getaffinity(0)), len(jobs)))
  logging.info("ucf101: %d clips in %d shards, %d to do with %d workers (%s flow, %g fps)",
               len(clips), count, len(todo), workers, flow, fps)
  import tqdm  # pylint: disable=g-import-not-at-top
  bar = tqdm.tqdm(total=len(jobs), unit="clip", desc="ucf101", disable=not progress,
                  smoothing=0.05, mininterval=0.5)
  counts = {"skipped": 0}
  threads = cv2.getNumThreads()
  try:
    if workers == 1:
      cv2.setNumThreads(1)
      results = map(_prepare_clip, jobs)
    else:
      results = ordered_results(_prepare_clip, jobs, workers)
    for i in todo:
      _write_shard(dst, names[i], clips[i * clips_per_shard:(i + 1) * clips_per_shard],
                   results, bar, counts)
    next(results, None)  # runs the pool's end: its workers exit
  finally:
    bar.close()
    cv2.setNumThreads(threads)
    if hasattr(results, "close"):
      results.close()  # stops the worker processes
  if counts["skipped"]:
    logging.warning("ucf101: skipped %d of %d clips this run (listed in the manifest)",
                    counts["skipped"], len(jobs))
  left = [n for n in names if not _finished(dst, n)]
  if left:
    logging.info("ucf101: %d shards left to other shares; the manifest is written by the "
                 "run that finishes the last", len(left))
    return None
  manifest = _manifest(dst, settings, classes, split_lists, names, stand_in)
  _write_json(os.path.join(dst, MANIFEST), manifest)
  logging.info("ucf101: %d clips, %d frames written; %d skipped", manifest["num_clips"],
               manifest["num_frames"], len(manifest["skipped"]))
  return manifest


def main(argv=None):
  parser = argparse.ArgumentParser(prog="python -m zoo.data.prepare.ucf101",
                                   description=__doc__.split("\n\n")[0])
  parser.add_argument("--src", required=True, help="holds UCF-101/ and ucfTrainTestlist/")
  parser.add_argument("--dst", required=True, help="where shards and manifest.json go")
  parser.add_argument("--splits", default="1", help="official splits to list: 1, or 1,2,3")
  parser.add_argument("--fps", type=float, default=10, help="frames kept per second")
  parser.add_argument("--flow", default=DEFAULT_FLOW, choices=FLOW_METHODS)
  parser.add_argument("--bound", type=float, default=FLOW_BOUND, help="flow range, pixels")
  parser.add_argument("--frame_size", default=None, help="HxW (default: the clips' own)")
  parser.add_argument("--workers", type=int, default=None, help="default: one per core")
  parser.add_argument("--shard", default="0/1", help="I/N: this machine's share of shards")
  parser.add_argument("--clips_per_shard", type=int, default=CLIPS_PER_SHARD)
  parser.add_argument("--restart", action="store_true",
                      help="remove a preparation with other settings and start over")
  parser.add_argument("--no_progress", action="store_true")
  args = parser.parse_args(argv)
  logging.use_absl_handler()
  logging.set_verbosity(logging.INFO)
  py_logging.getLogger("absl").setLevel(py_logging.INFO)
  try:
    try:
      splits = [int(s) for s in args.splits.split(",")]
    except ValueError:
      raise PrepareError(f"--splits={args.splits}: expected numbers like 1 or 1,2,3") from None
    m = re.fullmatch(r"(\d+)/(\d+)", args.shard)
    if not m:
      raise PrepareError(f"--shard={args.shard}: expected I/N, e.g. 0/4")
    frame_size = None
    if args.frame_size:
      size = re.fullmatch(r"(\d+)x(\d+)", args.frame_size)
      if not size:
        raise PrepareError(f"--frame_size={args.frame_size}: expected HxW, e.g. 240x320")
      frame_size = (int(size[1]), int(size[2]))
    manifest = prepare(args.src, args.dst, splits=splits, fps=args.fps, flow=args.flow,
                       workers=args.workers, shard=(int(m[1]), int(m[2])),
                       restart=args.restart, bound=args.bound, frame_size=frame_size,
                       clips_per_shard=args.clips_per_shard, progress=not args.no_progress)
  except PrepareError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  if manifest is not None:
    print(f"prepared {manifest['num_clips']} clips ({manifest['num_frames']} frames at "
          f"{manifest['fps']:g} fps, {manifest['flow']['method']} flow) into {args.dst}; "
          f"skipped {len(manifest['skipped'])}")


if __name__ == "__main__":
  main()
