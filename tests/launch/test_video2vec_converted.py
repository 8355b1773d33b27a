"""Video2Vec on real-format UCF101 (the tests' tiny tree) without an ImageNet run: the
spatial CNN is a VGG-F converted from a MatConvNet .mat (`--config.data.spatial_cnn=DIR`),
its fc7 features in the cache equal MatConvNet's forward pass on the same frames."""
import json
import os
import sys

import numpy as np
import pytest

from conftest import ROOT, launch
from launch import config as config_lib
from launch import stages
from zoo.data import pipeline, ucf101, video_features
from zoo.models import convert

sys.path.insert(0, os.path.join(ROOT, "tests", "data"))
sys.path.insert(0, os.path.join(ROOT, "tests", "models"))
import test_convert_matconvnet as mcn  # pylint: disable=wrong-import-position
import ucf101_tree  # pylint: disable=wrong-import-position

SMALL = ["--config.data.image_size=64", "--config.data.resize_size=72",
         "--config.data.flow_stack=5", "--config.data.num_threads=2"]


@pytest.mark.slow
def test_video2vec_runs_from_a_converted_mat_without_imagenet(tmp_path):
  _, prepared = ucf101_tree.prepared()
  rng = np.random.default_rng(0)
  layers = mcn.vgg_f_layers(rng, (1, 16), 1000, (5, 1.0, 1e-4, 0.75))  # 64x64 input
  average = rng.uniform(90, 140, (64, 64, 3)).astype(np.float32)
  mat = str(tmp_path / "imagenet-vgg-f.mat")
  mcn.write_mat(mat, layers, average, 64, 1000, "current")
  runs = tmp_path / "runs"
  spatial = str(runs / "vgg_f_matconvnet")
  info = convert.convert_matconvnet(mat, spatial)
  assert f"--config.data.spatial_cnn={spatial}" in info["video2vec_settings"]

  # the temporal CNN, a few steps on the tree's flow (the paper's comes from UCF Sports)
  flow = str(runs / "ucf101_flow_cnn_split1")
  launch("--experiment=ucf101_flow_cnn", f"--workdir={flow}", f"--config.data.dir={prepared}",
         *SMALL, "--config.data.channels=10", "--config.model.fc_features=16",
         "--config.total_steps=2", "--config.batch_size=8", "--config.eval_batch_size=8",
         "--config.log_every_steps=1", "--config.checkpoint_every_steps=2", devices=1)

  workdir = str(runs / "video2vec")
  overrides = [f"--config.data.dir={prepared}", *info["video2vec_settings"], *SMALL,
               "--config.data.max_steps=6", "--config.model.rnn_hidden=16",
               "--config.model.mlp_hidden=(16,)", "--config.batch_size=4",
               "--config.eval_batch_size=4", "--config.total_steps=3",
               "--config.log_every_steps=1", "--config.checkpoint_every_steps=3",
               "--config.evals.retrieval.queries=('yoyo',)"]
  proc = launch("--experiment=video2vec", f"--workdir={workdir}", *overrides, devices=1)
  assert "stage spatial_cnn" not in proc.stderr  # no ImageNet run, none trained
  assert not os.path.exists(os.path.join(spatial, "results.json"))
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  assert results["data"]["stand_in"] is False
  assert 0.0 <= results["recognition/softmax_top1_accuracy"] <= 1.0

  # The cached spatial features are the converted network's fc7 on the clip's frames.
  config = stages.expand(config_lib.resolve("video2vec", overrides), workdir)
  assert video_features.feature_dims(config.data)[0] == 16
  record = video_features.source(config.data, "test")[0]
  clips = config.data.copy_and_resolve_references()
  with clips.unlocked():
    clips.name, clips.classes = "ucf101", ()
  source = pipeline.open_source(clips, "test", train=False)  # as the features stage reads
  frames = next(ucf101.all_steps(clips, source[i])["rgb"] for i in range(len(source))
                if source[i] is not None and source[i]["name"] == record["name"])
  expected = np.maximum(mcn.mcn_forward(layers[:-3], average, frames), 0.0)  # relu7
  np.testing.assert_allclose(record["rgb"][:len(frames)].astype(np.float32), expected,
                             rtol=2e-3, atol=2e-3 * np.max(np.abs(expected)))
