"""Video2Vec's zero-shot protocol on the real-format UCF101 tree the tests write
(`ucf101_tree`): each class split trains its own temporal CNN on its seen classes only,
and the record of which classes trained each component shows no unseen class."""
import json
import os

import ml_collections
import pytest

import ucf101_tree
from launch import config as config_lib
from launch import stages
from zoo.data import pipeline, ucf101, video_features


def zsl_config(workdir):
  _, dst = ucf101_tree.prepared()
  config = config_lib.resolve("video2vec:zsl", [
      f"data.dir={dst}", "data.zsl_unseen=1", "zsl_splits=10",
      "data.spatial_cnn={runs}/imagenet_vgg_f"])
  return stages.expand(config, workdir)


def write_run(run_dir, config):
  """A run's config.json, as `launch.train.run` writes it first."""
  os.makedirs(run_dir, exist_ok=True)
  with open(os.path.join(run_dir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())


def test_each_split_trains_its_temporal_cnn_on_its_seen_classes_only(tmp_path):
  workdir = str(tmp_path / "video2vec_zsl")
  config = zsl_config(workdir)
  classes = list(ucf101_tree.CLASSES)
  write_run(tmp_path / "imagenet_vgg_f", config_lib.resolve("imagenet_vgg_f"))
  flow_runs, trained_on = {}, set()
  for seed in range(10):
    split = config if seed == 0 else next(
        s["config"] for s in stages.stages_of(config, workdir) if s["name"] == f"zsl_split{seed}")
    flow = next(s for s in stages.stages_of(split, workdir) if s["name"] == "flow_cnn")
    assert flow["workdir"] == split.data.flow_cnn
    flow_runs[seed] = flow["workdir"]
    # the stage's run reads only the split's seen classes, in training and evaluation
    flow_config = config_lib.resolve(flow["experiment"], flow["overrides"])
    seen, unseen = video_features.class_split(3, 1, seed)
    trained_on.add(tuple(seen))
    labels = {}
    for name in ("train", "test"):
      source = pipeline.open_source(flow_config.data, name, train=False)
      labels[name] = {e["label"] for e in source.source.entries}  # the records it serves
    assert labels["train"] == set(seen) and labels["test"] <= set(seen), seed
    write_run(flow["workdir"], flow_config)
    trained = video_features.trained_classes(split)
    assert trained["temporal_cnn"]["video_classes"] == sorted(classes[c] for c in seen)
    assert trained["embedding"]["video_classes"] == sorted(classes[c] for c in seen)
    assert trained["spatial_cnn"]["video_classes"] == []  # ImageNet
    assert video_features.leaked_classes(trained, [classes[c] for c in unseen]) == {}
  assert len(trained_on) == 3  # the splits hold out each of the three classes
  assert len(set(flow_runs.values())) == 10  # one temporal CNN per split, next to the run
  assert all(os.path.dirname(r) == str(tmp_path) for r in flow_runs.values())


def test_a_temporal_cnn_of_every_class_is_a_leak_and_a_named_one_is_shared(tmp_path):
  workdir = str(tmp_path / "video2vec_zsl")
  _, dst = ucf101_tree.prepared()
  config = config_lib.resolve("video2vec:zsl", [
      f"data.dir={dst}", "data.zsl_unseen=1", "zsl_splits=2",
      f"data.flow_cnn={tmp_path}/all_classes", f"data.spatial_cnn={tmp_path}/imagenet"])
  config = stages.expand(config, workdir)
  split1 = next(s["config"] for s in stages.stages_of(config, workdir)
                if s["name"] == "zsl_split1")
  assert split1.data.flow_cnn == config.data.flow_cnn == f"{tmp_path}/all_classes"
  os.makedirs(tmp_path / "imagenet")  # VGG-F converted from MatConvNet (zoo.models.convert)
  with open(tmp_path / "imagenet" / "config.json", "w") as f:
    json.dump({"converted_from": "/w/imagenet-vgg-f.mat", "task": "classification",
               "model": {"name": "vgg_f"}, "data": {"image_size": 224}}, f)
  # today's default temporal CNN: the split's whole training list
  write_run(tmp_path / "all_classes", config_lib.resolve(
      "ucf101_flow_cnn", [f"data.dir={dst}"]))
  unseen = [ucf101_tree.CLASSES[c] for c in video_features.unseen_classes(config.data, 3)]
  leaks = video_features.leaked_classes(video_features.trained_classes(config), unseen)
  assert leaks == {"temporal_cnn": unseen}
  assert video_features.trained_classes(config)["spatial_cnn"] == {
      "run": f"{tmp_path}/imagenet", "data": "converted from /w/imagenet-vgg-f.mat",
      "video_classes": []}
