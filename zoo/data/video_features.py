"""Per-step CNN features of prepared UCF101 clips, cached on disk (Video2Vec's fast path).

With the two CNNs frozen (the paper's setting), their fc7 features for every time step of
every clip are computed once (`launch/features.py`, the `features` stage) and stored as
float16 in ArrayRecord shards under `DIR/features/KEY/`. KEY hashes everything the features
depend on: the prepared data's manifest, the two CNN checkpoints (file contents), and the
preprocessing (crop and resize sizes, flow stack). A changed input gives a new KEY and a
new extraction; an interrupted extraction resumes at the first missing shard.

This module reads the cache as a data module (`data.name='video_features'`): one record per
clip with all its steps; `preprocess` keeps them all (`max_steps=0`: batches padded per
bucket of length, `zoo.data.sequences`) or samples `max_steps` of them exactly as the
frame loader does, and pads with a length. Zero-shot learning (`data.zsl_unseen` > 0) keeps the
unseen classes of the class split `data.zsl_seed` out of the training split; the split
'test:unseen' (or 'test:seen') reads only those test clips.
"""
import hashlib
import json
import os

import grain
import ml_collections
import numpy as np

from zoo import checkpoints
from zoo.data import bad_records, pipeline, ucf101

STAND_IN = False  # decided by the prepared data: see stand_in()
COMPLETE = "complete.json"
FORMAT = "video_features/2"  # the record layout (encode), part of the cache key


def stand_in(data_config) -> bool:
  return ucf101.stand_in(data_config)


def num_classes(data_config) -> int:
  return ucf101.num_classes(data_config)


DESCRIPTION = "cached two-stream CNN features of prepared clips (UCF101 layout; the manifest says if a stand-in)"


# --- zero-shot class splits ---------------------------------------------------------------

def class_split(num_classes_: int, num_unseen: int, seed: int):
  """(seen, unseen) sorted class indices of zero-shot split `seed`, drawn at random."""
  if not 0 < num_unseen < num_classes_:
    raise ValueError(f"--config.data.zsl_unseen={num_unseen}: expected 1..{num_classes_ - 1}")
  order = np.random.default_rng([seed, 2016]).permutation(num_classes_)
  return sorted(order[num_unseen:].tolist()), sorted(order[:num_unseen].tolist())


def seen_classes(data_config, num_classes_: int):
  """The classes training may see: all, or the seen ones of the zero-shot split."""
  if not data_config.get("zsl_unseen", 0):
    return list(range(num_classes_))
  return class_split(num_classes_, data_config.zsl_unseen, data_config.zsl_seed)[0]


def unseen_classes(data_config, num_classes_: int):
  if not data_config.get("zsl_unseen", 0):
    return []
  return class_split(num_classes_, data_config.zsl_unseen, data_config.zsl_seed)[1]


# --- which classes' labels trained each component ---------------------------------------

VIDEO_DATA = ("ucf101", "ucf101_flow", "video_features")  # data modules reading UCF101 labels
COMPONENTS = ("spatial_cnn", "temporal_cnn", "embedding")


def _init_runs(init_from: str):
  """{subtree: run dir} of `config.init_from` ('PATH' or 'SUBTREE=PATH,...'; '' for the
  whole model), for the runs whose labels reach this one through their weights."""
  runs = {}
  for item in filter(None, (t.strip() for t in (init_from or "").split(","))):
    subtree, _, path = item.rpartition("=")
    runs[subtree] = path.rsplit(checkpoints.BEST_SUFFIX, 1)[0]
  return runs


def classes_trained_by(run_dir: str) -> dict:
  """{'run', 'data', 'video_classes'} of the run in `run_dir`: the UCF101 class names whose
  labels trained it (from its config.json, and the runs it was initialised from); for other
  data its own label names ('labels') or their number ('num_labels'). Weights converted
  from another framework (`zoo.models.convert`: `converted_from` in their config.json, or
  no config.json) are taken as trained on that file's data."""
  run = os.path.abspath(run_dir)
  if not os.path.exists(os.path.join(run_dir, "config.json")):
    return {"run": run, "data": "converted weights (no config.json)", "video_classes": []}
  with open(os.path.join(run_dir, "config.json")) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if "converted_from" in config:
    return {"run": run, "data": f"converted from {config.converted_from}",
            "video_classes": []}
  d = config.data
  names = set()
  if d.name in VIDEO_DATA:
    classes = ucf101.read_manifest(d.dir)["classes"]
    if d.name == "video_features" or d.get("zsl_unseen", 0):
      kept = seen_classes(d, len(classes))
    else:
      kept = d.get("classes") or range(len(classes))
    names.update(classes[int(c)] for c in kept)
  for path in _init_runs(config.get("init_from", "")).values():
    if os.path.exists(os.path.join(path, "config.json")):
      names.update(classes_trained_by(path)["video_classes"])
  record = {"run": run, "data": d.name, "video_classes": sorted(names)}
  if d.name not in VIDEO_DATA:
    module = pipeline.data_module(d)
    if hasattr(module, "CLASS_NAMES"):
      record["labels"] = list(module.CLASS_NAMES)
    elif hasattr(module, "NUM_CLASSES"):
      record["num_labels"] = int(module.NUM_CLASSES)
  return record


def trained_classes(config) -> dict:
  """{component: classes_trained_by record} for the spatial CNN, the temporal CNN and the
  embedding network of a Video2Vec run (written into its results.json; the zero-shot
  evaluator refuses a run where they meet its unseen classes). Frozen CNNs are their own
  runs; trained end to end, they saw this run's training classes and the weights
  `init_from` loaded into them."""
  d = config.data
  classes = ucf101.read_manifest(d.dir)["classes"]
  seen = [classes[c] for c in seen_classes(d, len(classes))]
  this_run = {"run": "this run", "data": d.name}
  init = _init_runs(config.get("init_from", ""))

  def from_init(*subtrees):
    names = set()
    for subtree, path in init.items():
      if subtree.split("/")[0] in subtrees:
        names.update(classes_trained_by(path)["video_classes"])
    return names

  out = {}
  for component, cnn in (("spatial_cnn", "spatial_cnn"), ("temporal_cnn", "flow_cnn")):
    if d.freeze_cnn:
      out[component] = classes_trained_by(d[cnn])
    else:
      names = set(seen) | from_init("", cnn)
      out[component] = {**this_run, "video_classes": sorted(names)}
  others = {s.split("/")[0] for s in init} - {"spatial_cnn", "flow_cnn"}
  out["embedding"] = {**this_run,
                      "video_classes": sorted(set(seen) | from_init("", *others))}
  return out


def leaked_classes(trained: dict, unseen_names) -> dict:
  """{component: sorted unseen class names whose labels trained it}, only those with any."""
  unseen = set(unseen_names)
  leaks = {c: sorted(unseen & set(r["video_classes"])) for c, r in trained.items()}
  return {c: names for c, names in leaks.items() if names}


# --- the cache key ------------------------------------------------------------------------

def _hash_tree(digest, root: str):
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
      full = os.path.join(dirpath, name)
      digest.update(os.path.relpath(full, root).encode())
      with open(full, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          digest.update(block)


def cache_key(data_config) -> str:
  """Hash of what the features depend on (see the module docstring)."""
  digest = hashlib.sha256(FORMAT.encode())
  with open(os.path.join(data_config.dir, "manifest.json"), "rb") as f:
    digest.update(f.read())
  for name in ("spatial_cnn", "flow_cnn"):
    digest.update(name.encode())
    _hash_tree(digest, str(checkpoints.state_dir(data_config[name])))
  digest.update(json.dumps({k: data_config[k] for k in
                            ("image_size", "resize_size", "flow_stack")}).encode())
  return digest.hexdigest()[:16]


def cache_dir(data_config) -> str:
  root = data_config.feature_dir or os.path.join(data_config.dir, "features")
  return os.path.join(root, cache_key(data_config))


def feature_dims(data_config):
  """fc7 widths (spatial, temporal) of the cached features: the CNN runs' fc_features."""
  dims = []
  for name in ("spatial_cnn", "flow_cnn"):
    with open(os.path.join(data_config[name], "config.json")) as f:
      dims.append(int(json.load(f)["model"]["fc_features"]))
  return tuple(dims)


# --- records --------------------------------------------------------------------------------

def encode(record: dict) -> bytes:
  """A clip's features as bytes: a JSON header (scalars, and dtype/shape of each array)
  then the arrays' raw bytes, so reading is a JSON parse and zero-copy views (no pickle;
  a tenth of the time of .npz)."""
  arrays = {k: np.ascontiguousarray(v) for k, v in record.items() if isinstance(v, np.ndarray)}
  header = {"scalars": {k: v for k, v in record.items() if k not in arrays},
            "arrays": {k: [a.dtype.str, list(a.shape)] for k, a in arrays.items()}}
  head = json.dumps(header).encode()
  return b"".join([len(head).to_bytes(4, "little"), head]
                  + [a.tobytes() for a in arrays.values()])


def decode(data: bytes) -> dict:
  size = int.from_bytes(data[:4], "little")
  header = json.loads(data[4:4 + size])
  record, offset = dict(header["scalars"]), 4 + size
  for key, (dtype, shape) in header["arrays"].items():
    count = int(np.prod(shape))
    record[key] = np.frombuffer(data, dtype, count, offset).reshape(shape)
    offset += count * np.dtype(dtype).itemsize
  return record


class CacheSource:
  """Random access to the cached clips of one split (a list of clip names)."""

  def __init__(self, directory: str, names):
    with open(os.path.join(directory, COMPLETE)) as f:
      index = json.load(f)["clips"]  # name -> [shard file, record index]
    missing = [n for n in names if n not in index]
    if missing:
      raise ValueError(f"feature cache {directory} lacks {len(missing)} clips of the split "
                       f"(e.g. {missing[0]}); delete it to extract again")
    self.names = list(names)
    self.where = [index[n] for n in names]
    self.directory = directory
    shards = sorted({s for s, _ in self.where})
    self._sources = {s: grain.sources.ArrayRecordDataSource([os.path.join(directory, s)])
                     for s in shards}

  def __len__(self):
    return len(self.where)

  def __getitem__(self, index):
    shard, offset = self.where[int(index)]
    return decode(self._sources[shard][offset])


def split_names(data_config, split: str):
  """Clip names of `split` ('train', 'test', optionally ':seen'/':unseen') after the
  zero-shot rule: training never reads an unseen class."""
  base, _, subset = split.partition(":")
  manifest = ucf101.read_manifest(data_config.dir)
  splits = manifest["splits"].get(str(data_config.split_index))
  if splits is None or base not in splits:
    raise ValueError(f"split '{split}' of --config.data.split_index="
                     f"{data_config.split_index} is not in {data_config.dir}/manifest.json; "
                     f"prepared: {sorted(manifest['splits'])}")
  label_of = {r["name"]: r["label"] for r in manifest["records"]}  # the prepare step's
  n = len(manifest["classes"])
  seen, unseen = set(seen_classes(data_config, n)), set(unseen_classes(data_config, n))
  keep = {"": seen if base == "train" else set(range(n)), "seen": seen,
          "unseen": unseen}.get(subset)
  if keep is None:
    raise ValueError(f"split '{split}': expected NAME, NAME:seen or NAME:unseen")
  names = splits[base]
  return [c for c in names if label_of[c] in keep]


def source(data_config, split: str):
  if not data_config.freeze_cnn:  # end to end: frames from the prepared clips
    if data_config.zsl_unseen:
      raise ValueError("zero-shot runs read cached features: --config.model.freeze_cnn=true")
    return ucf101.source(data_config, split)
  directory = cache_dir(data_config)
  if not os.path.exists(os.path.join(directory, COMPLETE)):
    raise FileNotFoundError(
        f"no complete feature cache at {directory}: it is built by the experiment's "
        "'features' stage (python -m launch.run ... --stage=features)")
  return CacheSource(directory, split_names(data_config, split))


def sequence_lengths(data_config, source):
  """Each clip's number of time steps, from the manifest (`zoo.data.sequences`)."""
  if not data_config.freeze_cnn:
    return ucf101.sequence_lengths(data_config, source)
  frames = {r["name"]: r["frames"] for r in ucf101.read_manifest(data_config.dir)["records"]}
  return [frames[n] for n in source.names]


steps_per_second = ucf101.steps_per_second


def preprocess(data_config, train: bool):
  """As `ucf101.preprocess`, of the cached features: (record, rng, pad_to=None) ->
  {'rgb', 'flow': float16 [P, F], 'length', 'label'}."""
  if not data_config.freeze_cnn:
    return ucf101.preprocess(data_config, train)
  max_steps = int(data_config.max_steps)

  def fn(record, rng, pad_to=None):
    length = len(record["rgb"])
    steps = pad_to or max_steps or length
    idx = ucf101.sample_steps(length, steps, train, rng)
    out = {}
    for key in ("rgb", "flow"):
      x = np.zeros((steps,) + record[key].shape[1:], np.float16)
      x[:len(idx)] = record[key][idx]
      out[key] = x
    out["length"] = np.int32(len(idx))
    out["label"] = np.int32(record["label"])
    return out

  return fn


def validate(data_config, record):
  if not data_config.freeze_cnn:
    return ucf101.validate(data_config, record)
  if len(record["rgb"]) == 0 or len(record["rgb"]) != len(record["flow"]):
    raise bad_records.BadRecordError(
        f"features of {record['name']}: rgb {record['rgb'].shape}, flow {record['flow'].shape}")


# --- computing features (the `features` stage, and prediction on new videos) ---------------

STEPS_PER_CALL = 64  # time steps per CNN call: one shape, one compilation


def cnn_features(run_dir: str, compiler_options: dict):
  """(jitted fc7 function of uint8 images -> float16, fc7 width) of the CNN trained in
  `run_dir`, rebuilt from its `config.json` (network, input normalisation) and checkpoint."""
  import jax  # pylint: disable=import-outside-toplevel
  import jax.numpy as jnp  # pylint: disable=import-outside-toplevel
  import ml_collections  # pylint: disable=import-outside-toplevel
  from zoo.tasks import classification  # pylint: disable=import-outside-toplevel
  with open(os.path.join(run_dir, "config.json")) as f:
    run_config = json.load(f)
  model_config = ml_collections.ConfigDict(run_config["model"])
  model = classification.build_model(model_config, 0)  # num_classes=0: fc7 features
  params = checkpoints.load_params(run_dir)["params"]
  params = {k: v for k, v in params.items() if k != "fc8"}
  mode = run_config.get("input_normalization", "imagenet")
  dtype = jnp.dtype(model_config.get("dtype", "float32"))

  def fc7(images):
    return model.apply({"params": params}, classification.normalize(images, dtype, mode),
                       train=False).astype(jnp.float16)

  return jax.jit(fc7, compiler_options=compiler_options), int(model_config.fc_features)


def run_in_chunks(fn, x):
  """fn over `x` [T, ...] in chunks of STEPS_PER_CALL; a shorter (last) chunk is padded to
  the next power of two, so at most log2(STEPS_PER_CALL) + 1 shapes compile and a short
  clip does not pay for 64 steps."""
  out = []
  for start in range(0, len(x), STEPS_PER_CALL):
    chunk = x[start:start + STEPS_PER_CALL]
    size = min(STEPS_PER_CALL, 1 << (len(chunk) - 1).bit_length())
    padded = np.zeros((size,) + chunk.shape[1:], chunk.dtype)
    padded[:len(chunk)] = chunk
    out.append(np.asarray(fn(padded))[:len(chunk)])
  return np.concatenate(out)


def clip_features(data_config, record, spatial, temporal) -> dict:
  """{'rgb', 'flow'}: fc7 features [T, width] of every time step of a prepared clip
  (`ucf101.all_steps`) through the spatial and temporal CNNs (`cnn_features` functions)."""
  steps = ucf101.all_steps(data_config, record)
  return {"rgb": run_in_chunks(spatial, steps["rgb"]),
          "flow": run_in_chunks(temporal, steps["flow"])}
