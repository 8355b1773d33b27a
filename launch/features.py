"""The `features` stage of Video2Vec: fc7 features of both frozen CNNs for every time step
of every clip of the prepared data, written once into the cache `zoo.data.video_features`
reads (ArrayRecord shards, float16, keyed by what they depend on).

Each CNN is rebuilt from its own run's `config.json` (network and input normalisation) and
checkpoint (`video_features.cnn_features`, which prediction on new videos uses too). Shards of `CLIPS_PER_SHARD` clips are written to a temporary name and renamed
when complete, so a killed extraction resumes at the first missing shard and never reads a
half-written one. Clips the prepared data marks bad are skipped and counted.
"""
import json
import os

import tqdm
from absl import logging
from array_record.python import array_record_module

from zoo.data import pipeline, ucf101, video_features
from zoo.models import conv

CLIPS_PER_SHARD = 64


def extract(config) -> str:
  """Fills the feature cache of `config.data` (a no-op when complete); returns its dir."""
  d = config.data
  directory = video_features.cache_dir(d)
  if os.path.exists(os.path.join(directory, video_features.COMPLETE)):
    logging.info("feature cache %s is complete", directory)
    return directory
  os.makedirs(directory, exist_ok=True)
  options = conv.compiler_options(config.get("cpu_convolutions"))
  spatial, width = video_features.cnn_features(d.spatial_cnn, options)
  temporal, flow_width = video_features.cnn_features(d.flow_cnn, options)
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
      features = {**video_features.clip_features(d, record, spatial, temporal),
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
