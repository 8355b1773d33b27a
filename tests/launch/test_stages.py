"""Runs that need other runs first (`launch/stages.py`): placeholders and order."""
import os

import ml_collections
import pytest

from launch import config as config_lib
from launch import stages


def test_placeholders_name_the_runs_folder_and_config_values(tmp_path):
  config = ml_collections.ConfigDict(dict(
      experiment="x", data=dict(split_index=2, dir="{runs}/data",
                                cnn="{runs}/flow_split{data.split_index}"),
      paths=("{runs}/a", 3), suffix="-split{seed}", unknown="{nope.key}"))
  config = stages.expand(config, str(tmp_path / "run"))
  assert config.data.dir == f"{tmp_path}/data"
  assert config.data.cnn == f"{tmp_path}/flow_split2"
  assert config.paths == (f"{tmp_path}/a", 3)
  assert config.suffix == "-split{seed}" and config.unknown == "{nope.key}"  # left alone


def test_video2vec_stages_in_order_and_one_alone(tmp_path, monkeypatch):
  config = stages.expand(config_lib.resolve("video2vec:smoke"), str(tmp_path / "run"))
  names = [s["name"] for s in stages.stages_of(config, str(tmp_path / "run"))]
  assert names == ["videos", "prepared", "spatial_cnn", "flow_cnn", "features", "zero_shot"]
  called = []
  monkeypatch.setattr(stages, "run_stage", lambda stage, *args: called.append(stage["name"]))
  stages.run_all(config, str(tmp_path / "run"), only="features")
  assert called == ["features"]
  with pytest.raises(ValueError, match="--stage=nope"):
    stages.run_all(config, str(tmp_path / "run"), only="nope")
  zsl = stages.expand(config_lib.resolve("video2vec:smoke_zsl"), str(tmp_path / "z"))
  splits = [s for s in stages.stages_of(zsl, str(tmp_path / "z")) if "zsl_split" in s["name"]]
  assert [(s["name"], s["workdir"]) for s in splits] == [("zsl_split1", f"{tmp_path}/z-split1")]
  assert splits[0]["config"].data.zsl_seed == 1 and splits[0]["config"].zsl_splits == 1
  assert not os.path.exists(tmp_path / "run")  # listing stages creates nothing


def test_a_done_stage_is_reported_once_however_many_runs_need_it(tmp_path, monkeypatch):
  done = tmp_path / "prepared.done"
  done.write_text("")
  stage = {"name": "prepared", "call": "os:getcwd", "done": str(done)}
  logged = []
  monkeypatch.setattr(stages.logging, "info", lambda message, *a: logged.append(message % a))
  for _ in range(5):  # e.g. five zero-shot split runs sharing the prepared data
    assert stages.run_stage(stage, None, str(tmp_path / "run")) is None
  assert logged == [f"stage prepared: done ({done} exists); skipped"]
