"""The `features` stage of Video2Vec: fc7 features of both frozen CNNs for every time step
of every clip of the prepared data, written once into the cache `zoo.data.video_features`
reads (ArrayRecord shards, float16, keyed by what they depend on).

Each CNN is rebuilt from its own run's `config.json` (network and input normalisation) and
checkpoint. Shards of `CLIPS_PER_SHARD` clips are written to a temporary name and renamed
when complete, so a killed extraction resumes at the first missing shard and never reads a
half-written one. Clips the prepared data marks bad are skipped and counted.
"""
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from absl import logging
from array_record.python import array_record_module

from zoo import checkpoints
from zoo.data import pipeline, ucf101, video_features
from zoo.models import conv
from zoo.tasks import classification

CLIPS_PER_SHARD = 64
STEPS_PER_CALL = 64  # time steps per CNN call: one shape, one compilation


def _cnn(run_dir: str, compiler_options: dict):
  """(jitted fc7 function of uint8 images, fc7 width) of the CNN trained in `run_dir`."""
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


def _run_in_chunks(fn, x):
  """fn over `x` [T, ...] in fixed chunks of STEPS_PER_CALL (the last one padded)."""
  out = []
  for start in range(0, len(x), STEPS_PER_CALL):
    chunk = x[start:start + STEPS_PER_CALL]
    padded = np.zeros((STEPS_PER_CALL,) + chunk.shape[1:], chunk.dtype)
    padded[:len(chunk)] = chunk
    out.append(np.asarray(fn(padded))[:len(chunk)])
  return np.concatenate(out)


def extract(config) -> str:
  """Fills the feature cache of `config.data` (a no-op when complete); returns its dir."""
  d = config.data
  directory = video_features.cache_dir(d)
  if os.path.exists(os.path.join(directory, video_features.COMPLETE)):
    logging.info("feature cache %s is complete", directory)
    return directory
  os.makedirs(directory, exist_ok=True)
  options = conv.compiler_options(config.get("cpu_convolutions"))
  spatial, width = _cnn(d.spatial_cnn, options)
  temporal, flow_width = _cnn(d.flow_cnn, options)
  manifest = ucf101.read_manifest(d.dir)
  split = manifest["splits"][str(d.split_index)]
  clips_config = d.copy_and_resolve_references()
  with clips_config.unlocked():  # the prepared clips themselves, every class
    clips_config.name, clips_config.classes = "ucf101", ()
  # Every clip of both lists, in one fixed order: shard k always holds the same clips.
  sources = {name: pipeline.open_source(clips_config, name, train=False)
             for name in ("train", "test")}
  order = [(name, i) for name in ("train", "test") for i in range(len(sources[name]))]
  shards = [order[i:i + CLIPS_PER_SHARD] for i in range(0, len(order), CLIPS_PER_SHARD)]
  index, skipped = {}, []
  progress = tqdm.tqdm(total=len(order), desc="features", unit="clip", mininterval=2.0)
  for number, members in enumerate(shards):
    shard = f"features-{number:05d}-of-{len(shards):05d}.array_record"
    path = os.path.join(directory, shard)
    names_file = path + ".json"
    if os.path.exists(path) and os.path.exists(names_file):  # done in an earlier run
      with open(names_file) as f:
        for offset, name in enumerate(json.load(f)):
          index[name] = [shard, offset]
      progress.update(len(members))
      continue
    written = []
    writer = array_record_module.ArrayRecordWriter(path + ".tmp", "group_size:1")
    for name, i in members:
      record = sources[name][i]
      progress.update(1)
      if record is None:  # a bad clip, already reported with its path
        continue
      steps = ucf101.all_steps(d, record)
      features = {"rgb": _run_in_chunks(spatial, steps["rgb"]),
                  "flow": _run_in_chunks(temporal, steps["flow"]),
                  "label": int(record["label"]), "group": int(record["group"]),
                  "name": str(record["name"]), "path": str(record["path"])}
      writer.write(video_features.encode(features))
      written.append(record["name"])
    writer.close()
    with open(names_file + ".tmp", "w") as f:
      json.dump(written, f)
    os.replace(path + ".tmp", path)
    os.replace(names_file + ".tmp", names_file)  # last: marks the shard as complete
    index.update({n: [shard, k] for k, n in enumerate(written)})
  progress.close()
  skipped = [e for s in sources.values() for e in s.examples()]
  with open(os.path.join(directory, video_features.COMPLETE) + ".tmp", "w") as f:
    json.dump({"clips": index, "feature_dims": [width, flow_width],
               "skipped": skipped,
               "clips_in_split_lists": len(split["train"]) + len(split["test"])}, f)
  os.replace(os.path.join(directory, video_features.COMPLETE) + ".tmp",
             os.path.join(directory, video_features.COMPLETE))
  logging.info("feature cache %s: %d clips, %d skipped", directory, len(index), len(skipped))
  return directory
