"""UCF101 clips prepared by `zoo.data.prepare.ucf101`: RGB frames and dense optical flow as
time steps of a two-stream sequence model (Video2Vec: Li, Hu, Li, ICIP 2016; the flow
stack after Simonyan & Zisserman, NeurIPS 2014).

`--config.data.dir` is the prepared dir (its `manifest.json` holds the classes, their
words, the splits and where each clip's record is). A record is one clip: {'rgb': uint8
[T, H, W, 3], 'flow': uint8 [T-1, H, W, 2] (x, y; 128 = no motion), 'label', 'group',
'name', 'path' (the clip's .avi file, so a bad record names it)}.

Time step t of a clip shows the spatial stream RGB frame t and the temporal stream the
flow fields t..t+L-1 (L = `flow_stack`; fields past the clip's end repeat its last one),
channels x0, y0, x1, y1, ... With `max_steps=0` a sequence is the whole clip, every 10 fps
step, and the pipeline pads each batch of clips of similar length to a bucket
(`zoo.data.sequences`; `sequence_lengths` reads the lengths from the manifest). With
`max_steps` > 0 a sequence holds at most that many steps (`sample_steps`: training takes a
random stride and offset, evaluation evenly spaced steps over the whole clip) and is
padded with all-zero steps to `max_steps`; `length` is the number of real steps either
way. Frames are resized so their
shorter side is `resize_size` (flow vectors scaled with them) and cropped to
`image_size` (training: random crop and horizontal flip, which negates x-flow;
evaluation: centre crop).

Config fields (`config.data`): dir, split_index (1|2|3), train_split ('train'), classes
(0-based class indices to keep; empty: all; labels stay the original indices),
max_steps (0: whole clips; then buckets_per_octave and bucket_pool), flow_stack, image_size, resize_size, max_bad_fraction, num_threads,
prefetch_batches, seed.
"""
import functools
import json
import os
import threading

import cv2
import numpy as np

from zoo.data.bad_records import BadRecordError
from zoo.data.prepare import ucf101 as prepare_ucf101

STAND_IN = False  # for code that reads the constant; `stand_in(data_config)` reads the manifest
DESCRIPTION = ("UCF101 action clips (RGB frames and dense optical flow at 10 fps, prepared "
               "by zoo.data.prepare.ucf101)")
SPLITS = ("train", "test")
FLOW_STACK = 10
class_words = prepare_ucf101.class_words


@functools.lru_cache(maxsize=8)
def _manifest(path: str, mtime: float) -> dict:
  del mtime  # part of the cache key: a re-prepared dir is read again
  with open(path) as f:
    return json.load(f)


def read_manifest(data_dir: str) -> dict:
  """The prepared dir's manifest; a one-line error if it has none."""
  path = os.path.join(data_dir or "", prepare_ucf101.MANIFEST)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"--config.data.dir='{data_dir}' has no {prepare_ucf101.MANIFEST}: prepare UCF101 with "
        f"`python -m zoo.data.prepare.ucf101 --src=DIR_WITH_UCF-101 --dst={data_dir}`")
  try:
    return _manifest(path, os.path.getmtime(path))
  except ValueError as e:
    raise ValueError(f"{path} is not valid JSON ({e}); prepare the dir again") from None


def num_classes(data_config) -> int:
  return len(read_manifest(data_config.dir)["classes"])


def stand_in(data_config) -> bool:
  """True when the prepared clips come from the stand-in generator, not UCF101."""
  return bool(read_manifest(data_config.dir).get("stand_in", False))


def _kept_classes(data_config, manifest):
  classes = tuple(data_config.get("classes", ()) or ())
  for c in classes:
    if not 0 <= int(c) < len(manifest["classes"]):
      raise ValueError(f"--config.data.classes holds {c}, but {data_config.dir} has "
                       f"{len(manifest['classes'])} classes (0-based indices)")
  return {int(c) for c in classes} if classes else None


class ClipSource:
  """grain random-access source of one split's clips; a damaged shard or record raises an
  error naming the clip's .avi file and the shard."""

  def __init__(self, data_dir: str, entries: list[dict]):
    self.data_dir, self.entries = data_dir, entries
    self._readers, self._lock = {}, threading.Lock()

  def __len__(self):
    return len(self.entries)

  def _reader(self, shard: str):
    with self._lock:
      if shard not in self._readers:
        from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
        self._readers[shard] = array_record_module.ArrayRecordReader(
            os.path.join(self.data_dir, shard), "readahead_buffer_size:0")
      return self._readers[shard]

  def __getitem__(self, index):
    entry = self.entries[int(index)]
    try:
      data = self._reader(entry["shard"]).read([entry["index"]])[0]
      record = prepare_ucf101.decode_record(data)
    except Exception as e:  # pylint: disable=broad-except
      raise BadRecordError(f"{entry['path']} (record {entry['index']} of "
                           f"{entry['shard']}): {type(e).__name__}: {e}") from None
    if record["name"] != entry["name"]:
      raise BadRecordError(f"{entry['path']}: record {entry['index']} of {entry['shard']} "
                           f"holds {record['name']}, not {entry['name']}")
    return record

  def __getstate__(self):  # for grain's worker processes: readers are opened anew there
    return {"data_dir": self.data_dir, "entries": self.entries}

  def __setstate__(self, state):
    self.__init__(state["data_dir"], state["entries"])

  def __repr__(self):
    return f"ucf101({self.data_dir}, n={len(self)})"


def source(data_config, split: str) -> ClipSource:
  """The clips of `split` ('train' or 'test') of official split `data_config.split_index`."""
  if split not in SPLITS:
    raise ValueError(f"unknown split '{split}' of ucf101; known: {', '.join(SPLITS)}")
  manifest = read_manifest(data_config.dir)
  split_index = str(data_config.get("split_index", 1))
  if split_index not in manifest["splits"]:
    raise ValueError(f"--config.data.split_index={split_index}: {data_config.dir} was prepared "
                     f"with splits {sorted(manifest['splits'])}; prepare it with "
                     f"--splits={split_index}")
  by_name = {r["name"]: r for r in manifest["records"]}
  keep = _kept_classes(data_config, manifest)
  entries = [by_name[n] for n in manifest["splits"][split_index][split]
             if keep is None or by_name[n]["label"] in keep]
  return ClipSource(data_config.dir, entries)


def validate(data_config, record):
  rgb, flow = record.get("rgb"), record.get("flow")
  if not (isinstance(rgb, np.ndarray) and rgb.ndim == 4 and rgb.shape[-1] == 3
          and rgb.dtype == np.uint8):
    raise BadRecordError(f"rgb is not uint8 [T, H, W, 3]: {getattr(rgb, 'shape', rgb)}")
  if rgb.shape[0] < 2:
    raise BadRecordError(f"{rgb.shape[0]} frame(s); a clip needs 2")
  expected = (rgb.shape[0] - 1, *rgb.shape[1:3], 2)
  if not (isinstance(flow, np.ndarray) and flow.shape == expected and flow.dtype == np.uint8):
    raise BadRecordError(f"flow is not uint8 {list(expected)}: {getattr(flow, 'shape', flow)}")
  label, classes = record.get("label"), num_classes(data_config)
  if not (isinstance(label, (int, np.integer)) and 0 <= label < classes):
    raise BadRecordError(f"label {label!r} outside [0, {classes})")


def sample_steps(num_steps: int, max_steps: int, train: bool, rng=None) -> np.ndarray:
  """Indices of the time steps of a clip of `num_steps` steps that a sequence of at most
  `max_steps` shows, in increasing order. All of them when they fit. Otherwise evaluation
  spaces `max_steps` evenly over the clip (the centre of each of `max_steps` equal
  segments, a stride of num_steps / max_steps), and training takes a random stride
  between 1 (consecutive steps) and that of evaluation, from a random offset: the clip
  seen at random speeds and places, up to evaluation's view of all of it."""
  if num_steps <= max_steps:
    return np.arange(num_steps)
  if not train:
    return ((np.arange(max_steps) + 0.5) * num_steps / max_steps).astype(np.int64)
  stride = rng.uniform(1, num_steps / max_steps)
  offset = rng.uniform(0, num_steps - 1 - stride * (max_steps - 1))
  return np.floor(offset + stride * np.arange(max_steps)).astype(np.int64)


def _resize(frames: np.ndarray, size: int) -> tuple[np.ndarray, float]:
  """[N, H, W, C] resized so the shorter side is `size`; also the scale factor."""
  h, w = frames.shape[1:3]
  scale = size / min(h, w)
  if scale == 1:
    return frames, 1.0
  new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
  interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
  out = np.empty((len(frames), new_h, new_w, frames.shape[-1]), np.uint8)
  for i, frame in enumerate(frames):
    out[i] = cv2.resize(frame, (new_w, new_h), interpolation=interpolation).reshape(
        new_h, new_w, -1)
  return out, scale


def _steps(data_config, record, steps: np.ndarray, crop, flip: bool) -> dict:
  """RGB frames and flow stacks of the given steps, resized, cropped (`crop(h, w)` ->
  top, left) and flipped: {'rgb': [N, S, S, 3], 'flow': [N, S, S, 2L]}."""
  stack = int(data_config.get("flow_stack", FLOW_STACK))
  size, resize = int(data_config.image_size), int(data_config.resize_size)
  num_flows = record["flow"].shape[0]
  fields = np.minimum(steps[:, None] + np.arange(stack), num_flows - 1)  # [N, L]
  needed, where = np.unique(fields, return_inverse=True)
  rgb, _ = _resize(record["rgb"][steps], resize)
  flow, scale = _resize(record["flow"][needed], resize)
  top, left = crop(*rgb.shape[1:3])
  rgb = rgb[:, top:top + size, left:left + size]
  flow = flow[:, top:top + size, left:left + size]
  if flip:
    rgb, flow = rgb[:, :, ::-1], flow[:, :, ::-1]
  # vectors in pixels of the resized frames, x negated by a flip: one table per channel
  levels = np.arange(256, dtype=np.float32) - 128
  tables = [np.clip(np.round(levels * scale * sign) + 128, 0, 255).astype(np.uint8)
            for sign in ((-1 if flip else 1), 1)]
  if scale != 1 or flip:
    flow = np.stack([tables[0][flow[..., 0]], tables[1][flow[..., 1]]], axis=-1)
  # Each (x, y) pair as one uint16, so the stack interleaves 2-byte elements (4x faster
  # than moving an axis of length 2): [N, S, S, L] uint16 = [N, S, S, 2L] uint8.
  pairs = np.ascontiguousarray(flow).view(np.uint16)[..., 0]
  where = where.reshape(fields.shape)
  stacks = np.empty((len(steps), size, size, stack), np.uint16)
  for k in range(stack):
    stacks[..., k] = pairs[where[:, k]]
  return {"rgb": np.ascontiguousarray(rgb),
          "flow": stacks.view(np.uint8).reshape(len(steps), size, size, 2 * stack)}


def _centre(size):
  return lambda h, w: ((h - size) // 2, (w - size) // 2)


def sequence_lengths(data_config, source: "ClipSource"):
  """Each clip's number of time steps (10 fps frames), from the manifest."""
  del data_config
  return [e["frames"] for e in source.entries]


def steps_per_second(data_config) -> float:
  return float(read_manifest(data_config.dir)["fps"])


def preprocess(data_config, train: bool):
  """grain random map: (record, rng, pad_to=None) -> {'rgb': uint8 [P, S, S, 3], 'flow':
  uint8 [P, S, S, 2L], 'length': int32 (real steps; the rest are zeros), 'label'}, where P
  is `pad_to` (the batch's bucket, `zoo.data.sequences`), else `max_steps`, else the clip's
  length; a clip longer than P is sampled down to P steps (`sample_steps`)."""
  max_steps, size = int(data_config.max_steps), int(data_config.image_size)
  stack = int(data_config.get("flow_stack", FLOW_STACK))
  if size > int(data_config.resize_size) or max_steps < 0 or stack < 1:
    raise ValueError(f"ucf101 needs image_size <= resize_size, max_steps >= 0 (0: whole "
                     f"clips) and flow_stack >= 1; got {size}, {data_config.resize_size}, "
                     f"{max_steps}, {stack}")

  def fn(record, rng, pad_to=None):
    num_steps = record["rgb"].shape[0]
    padded = pad_to or max_steps or num_steps
    steps = sample_steps(num_steps, padded, train, rng)
    if train:
      crop = lambda h, w: (int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1)))
      flip = bool(rng.random() < 0.5)
    else:
      crop, flip = _centre(size), False
    x = _steps(data_config, record, steps, crop, flip)
    rgb = np.zeros((padded, size, size, 3), np.uint8)
    flow = np.zeros((padded, size, size, 2 * stack), np.uint8)
    rgb[:len(steps)], flow[:len(steps)] = x["rgb"], x["flow"]
    return {"rgb": rgb, "flow": flow, "length": np.int32(len(steps)),
            "label": np.int32(record["label"])}

  return fn


def all_steps(data_config, record, steps=None) -> dict:
  """Every time step of a clip (or the given `steps`, to bound memory on long clips),
  preprocessed as for evaluation (centre crop): {'rgb': uint8 [T, S, S, 3], 'flow':
  uint8 [T, S, S, 2L]} (for feature caches)."""
  steps = np.arange(record["rgb"].shape[0]) if steps is None else np.asarray(steps)
  return _steps(data_config, record, steps, _centre(int(data_config.image_size)), False)
