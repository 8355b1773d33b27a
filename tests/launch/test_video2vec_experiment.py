"""Video2Vec end to end on the tiny stand-in (`video2vec:smoke`): every stage through
`launch.run`, the three evaluations, the feature cache (hit, miss, resume) and the
zero-shot rule that unseen classes never reach training."""
import json
import os

import numpy as np
import pytest

from conftest import launch
from launch import config as config_lib
from launch import features, stages
from zoo.data import ucf101, video_features


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
  runs = tmp_path_factory.mktemp("runs")
  workdir = os.path.join(runs, "video2vec_smoke")
  proc = launch("--experiment=video2vec:smoke", f"--workdir={workdir}")
  config = stages.expand(config_lib.resolve("video2vec:smoke"), workdir)
  return workdir, config, proc.stderr, proc.stdout


def test_smoke_runs_every_stage_and_reports_three_evaluations(smoke):
  workdir, config, log, printed = smoke
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert results["data"]["stand_in"] is True and results["train_step_compilations"] == 1
  assert results["recognition/num_examples"] == 16  # 4 classes x 2 test groups x 2 clips
  for key in ("softmax_top1", "softmax_top5", "embedding_top1", "embedding_top5"):
    assert 0.0 <= results[f"recognition/{key}_accuracy"] <= 1.0
  assert results["recognition/embedding_top5_accuracy"] == 1.0  # only 4 classes
  assert results["zsl/num_splits"] == 2 and results["zsl/chance"] == 0.5
  assert len(results["zsl/split_accuracies"]) == 2
  np.testing.assert_allclose(results["zsl/mean_top1_accuracy"],
                             np.mean(results["zsl/split_accuracies"]))
  assert results["retrieval/num_queries"] == 3 and results["retrieval/num_clips"] == 8
  assert 0.0 <= results["retrieval/precision_at_10"] <= 1.0
  with open(os.path.join(workdir, "retrieval.md")) as f:
    table = f.read()
  assert "| roll |" in table and "precision@10" in table
  # the run ends by printing the three results
  assert "data: STAND-IN" in printed and "recognition/softmax_top1_accuracy" in printed
  assert "zsl: top-1" in printed and "over 2 splits (chance 0.5000)" in printed
  assert "| roll |" in printed and f"results: {workdir}/results.json" in printed
  for stage in ("videos", "prepared", "spatial_cnn", "flow_cnn", "features", "zero_shot"):
    assert f"stage {stage}" in log
  # the prerequisite runs live next to the workdir, each a run of its own
  for run in (config.data.spatial_cnn, config.data.flow_cnn, workdir + "-zsl",
              workdir + "-zsl-split1"):
    assert os.path.exists(os.path.join(run, "results.json")), run


def test_unseen_classes_never_reach_training(smoke):
  _, config, _, _ = smoke
  zsl = config.copy_and_resolve_references()
  with zsl.unlocked():
    zsl.data.zsl_unseen, zsl.data.zsl_seed = 2, 0
  seen, unseen = video_features.class_split(4, 2, 0)
  classes = ucf101.read_manifest(config.data.dir)["classes"]
  of = lambda names: {classes.index(n.split("_")[1]) for n in names}
  assert of(video_features.split_names(zsl.data, "train")) == set(seen)
  assert of(video_features.split_names(zsl.data, "test:unseen")) == set(unseen)
  assert of(video_features.split_names(zsl.data, "test")) == set(range(4))


def test_feature_cache_hit_miss_and_resume(smoke, tmp_path, monkeypatch):
  _, config, _, _ = smoke
  key = video_features.cache_key(config.data)
  other = config.copy_and_resolve_references()
  with other.unlocked():
    other.data.image_size = 56
    other.data.feature_dir = str(tmp_path)
  assert video_features.cache_key(other.data) != key  # preprocessing is part of the key
  # An extraction into a fresh dir in shards of 8 clips, then a kill after two shards.
  monkeypatch.setattr(features, "CLIPS_PER_SHARD", 8)
  directory = features.extract(other)
  shards = sorted(f for f in os.listdir(directory) if f.endswith(".array_record"))
  assert len(shards) == 3
  before = {s: os.path.getmtime(os.path.join(directory, s)) for s in shards}
  first = video_features.source(other.data, "test")[0]
  os.remove(os.path.join(directory, video_features.COMPLETE))
  os.remove(os.path.join(directory, shards[-1] + ".json"))
  assert features.extract(other) == directory  # resumes: only the last shard again
  after = {s: os.path.getmtime(os.path.join(directory, s)) for s in shards}
  assert [before[s] == after[s] for s in shards] == [True, True, False]
  again = video_features.source(other.data, "test")[0]
  assert again["name"] == first["name"]
  np.testing.assert_array_equal(again["rgb"], first["rgb"])
  assert first["rgb"].dtype == np.float16 and first["rgb"].shape[1] == 256
  # A hit does nothing.
  assert features.extract(other) == directory
  assert os.path.getmtime(os.path.join(directory, shards[0])) == before[shards[0]]
