"""Video2Vec end to end on the tiny stand-in (`video2vec:smoke`): every stage through
`launch.run`, the three evaluations, the feature cache (hit, miss, resume) and the
zero-shot rule that unseen classes never reach training."""
import copy
import json
import os
import shutil

import numpy as np
import pytest

from conftest import launch
from launch import config as config_lib
from launch import features, stages
from zoo.data import motions, ucf101, video_features
from zoo.evaluators import zero_shot


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


def test_results_record_the_classes_whose_labels_trained_each_component(smoke):
  workdir, config, _, _ = smoke
  classes = ucf101.read_manifest(config.data.dir)["classes"]
  for run, seed in ((workdir, None), (workdir + "-zsl", 0), (workdir + "-zsl-split1", 1)):
    with open(os.path.join(run, "results.json")) as f:
      trained = json.load(f)["data"]["trained_classes"]
    # neither CNN saw a video class: shapes, and motions of objects no class uses
    assert trained["spatial_cnn"]["data"] == "shapes"
    assert trained["spatial_cnn"]["video_classes"] == []
    assert trained["temporal_cnn"] == {
        "run": config.data.flow_cnn, "data": "motions", "video_classes": [],
        "labels": list(motions.CLASS_NAMES)}
    seen = range(4) if seed is None else video_features.class_split(4, 2, seed)[0]
    assert trained["embedding"]["video_classes"] == sorted(classes[c] for c in seen), run


def test_zero_shot_refuses_a_temporal_cnn_trained_on_unseen_classes(smoke, tmp_path):
  _, config, _, _ = smoke
  leaky = str(tmp_path / "flow_cnn_on_ucf101")  # the same weights, trained on every class
  shutil.copytree(config.data.flow_cnn, leaky)
  with open(os.path.join(leaky, "config.json")) as f:
    flow_config = json.load(f)
  flow_config["data"] = {"name": "ucf101_flow", "dir": config.data.dir, "classes": []}
  with open(os.path.join(leaky, "config.json"), "w") as f:
    json.dump(flow_config, f)
  zsl = stages.expand(config_lib.resolve("video2vec:smoke_zsl", [f"data.flow_cnn={leaky}"]),
                      os.path.dirname(config.data.flow_cnn) + "/video2vec_smoke-zsl")
  evaluator = zero_shot.Evaluator(zsl.evals.zsl, config=zsl, predict_fn=None,
                                  to_device=None, name="zsl")
  classes = ucf101.read_manifest(config.data.dir)["classes"]
  unseen = sorted(classes[c] for c in video_features.class_split(4, 2, 0)[1])
  with pytest.raises(ValueError, match=f"temporal_cnn \\({leaky}\\) was trained on labels "
                     f"of 2 of zero-shot split 0's unseen classes: {', '.join(unseen)}"):
    evaluator.check()
  zsl_ok = stages.expand(config_lib.resolve("video2vec:smoke_zsl"),
                         os.path.dirname(config.data.flow_cnn) + "/video2vec_smoke-zsl")
  lead = zero_shot.Evaluator(zsl_ok.evals.zsl, config=zsl_ok, predict_fn=None,
                             to_device=None, name="zsl")
  lead.check()  # motions: no video class
  # The lead run averages in split 1 only if its record shows no unseen class of split 1.
  workdir = str(tmp_path / "lead")
  with open(os.path.dirname(config.data.flow_cnn) + "/video2vec_smoke-zsl-split1/"
            "results.json") as f:
    split1 = json.load(f)
  os.makedirs(workdir + "-split1")

  def write_split1(results):
    with open(workdir + "-split1/results.json", "w") as f:
      json.dump(results, f)

  write_split1(split1)
  assert lead.other_splits(workdir) == {1: split1["zsl/top1_accuracy"]}
  unseen1 = sorted(classes[c] for c in video_features.class_split(4, 2, 1)[1])
  leaky_split = copy.deepcopy(split1)
  leaky_split["data"]["trained_classes"]["embedding"]["video_classes"] = classes
  write_split1(leaky_split)
  with pytest.raises(ValueError, match=f"in split run {workdir}-split1, the embedding "
                     f".*split 1's unseen classes: {', '.join(unseen1)}"):
    lead.other_splits(workdir)
  del split1["data"]["trained_classes"]
  write_split1(split1)
  with pytest.raises(ValueError, match="does not record which classes trained"):
    lead.other_splits(workdir)


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
