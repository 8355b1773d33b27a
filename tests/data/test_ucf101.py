"""The UCF101 loader on prepared clips of the tiny real-format tree (and of the stand-in):
shapes, labels, groups kept apart, step sampling, flow stacks, padding and lengths,
damaged records named by their .avi file."""
import filecmp
import json
import os
import pickle
import shutil

import ml_collections
import numpy as np
import pytest

import ucf101_tree
from zoo.data import pipeline, shapes, ucf101
from zoo.data.bad_records import TooManyBadRecordsError
from zoo.data.prepare import ucf101 as prepare_ucf101
from zoo.data.prepare import ucf101_stand_in


def data_config(data_dir, **overrides):
  config = ml_collections.ConfigDict(dict(
      name="ucf101", dir=str(data_dir), split_index=1, train_split="train", classes=(),
      max_steps=6, flow_stack=3, image_size=32, resize_size=40, max_bad_fraction=0.0,
      num_threads=2, prefetch_batches=2, seed=0))
  config.update(overrides)
  return config


def test_prepared_clips_become_padded_sequences_with_lengths():
  _, dst = ucf101_tree.prepared()
  config = data_config(dst)
  assert ucf101.num_classes(config) == 3 and not ucf101.stand_in(config)
  assert not pipeline.is_stand_in(ucf101, config) and pipeline.is_stand_in(shapes, config)
  train = pipeline.open_source(config, "train")
  test = pipeline.open_source(config, "test", train=False)
  assert len(train) == 10 and len(test) == 2
  records = [train[i] for i in range(len(train))]
  assert {r["group"] for r in records} == {2, 3, 4}  # split 1 tests on group 1 only
  assert {test[i]["group"] for i in range(len(test))} == {1}
  copy = pickle.loads(pickle.dumps(ucf101.source(config, "train")))  # grain's processes
  assert copy[0]["name"] == records[0]["name"]
  record = next(r for r in records if r["name"] == "v_HandStandPushups_g02_c01")
  assert record["path"] == "UCF-101/HandstandPushups/v_HandStandPushups_g02_c01.avi"
  assert record["label"] == 1 and record["rgb"].shape == (11, 48, 64, 3)
  assert record["flow"].shape == (10, 48, 64, 2) and record["flow"].dtype == np.uint8
  slides = next(r for r in records if r["name"] == "v_ApplyEyeMakeup_g02_c01")
  # the ball slides sideways in this class: flow is mostly x, and not zero
  moving = np.abs(slides["flow"].astype(int) - 128).mean(axis=(0, 1, 2))
  assert moving[0] > 0.5 and moving[0] > 2 * moving[1]

  batch = next(pipeline.train_iterator(config, train, seed=0, local_batch_size=5))
  assert batch["rgb"].shape == (5, 6, 32, 32, 3) and batch["rgb"].dtype == np.uint8
  assert batch["flow"].shape == (5, 6, 32, 32, 6) and batch["flow"].dtype == np.uint8
  assert batch["length"].dtype == np.int32 and batch["label"].dtype == np.int32
  frames = {r["name"]: r["rgb"].shape[0] for r in records}
  assert sorted(set(frames.values())) == [3, 4, 5, 6, 7, 9, 10, 11]  # some shorter than 6
  for i in range(5):  # padded steps are all zero, real ones are not
    n = batch["length"][i]
    assert 1 <= n <= 6 and not batch["rgb"][i, n:].any() and not batch["flow"][i, n:].any()
    assert batch["rgb"][i, :n].reshape(n, -1).any(axis=1).all()
    assert batch["flow"][i, :n].reshape(n, -1).any(axis=1).all()

  fn = ucf101.preprocess(config, train=False)
  lengths = [int(fn(r, None)["length"]) for r in records]
  assert lengths == [min(frames[r["name"]], 6) for r in records]
  assert sum(6 - n for n in lengths) == 3 + 2 + 1  # clips of 3, 4 and 5 steps
  batches = list(pipeline.eval_batches(config, test, local_batch_size=4))
  assert len(batches) == 1 and batches[0]["mask"].tolist() == [1, 1, 0, 0]
  assert batches[0]["length"].tolist()[:2] == [6, 6] and "length" in batches[0]


def test_classes_subset_keeps_original_labels_and_other_splits():
  _, dst = ucf101_tree.prepared()
  train = ucf101.source(data_config(dst, classes=(0, 2)), "train")
  assert sorted({train[i]["label"] for i in range(len(train))}) == [0, 2] and len(train) == 6
  test2 = ucf101.source(data_config(dst, split_index=2), "test")
  assert sorted(test2[i]["name"] for i in range(len(test2))) == [
      "v_ApplyEyeMakeup_g02_c01", "v_HandStandPushups_g02_c01", "v_YoYo_g02_c01"]
  with pytest.raises(ValueError, match="split_index=3: .* was prepared with splits"):
    ucf101.source(data_config(dst, split_index=3), "train")
  with pytest.raises(ValueError, match="classes holds 3, but .* has 3 classes"):
    ucf101.source(data_config(dst, classes=(3,)), "train")
  with pytest.raises(ValueError, match="unknown split 'validation'"):
    ucf101.source(data_config(dst), "validation")
  with pytest.raises(FileNotFoundError, match="has no manifest.json: prepare UCF101 with"):
    ucf101.num_classes(data_config(os.path.dirname(dst) + "/nowhere"))


def _numbered_record(num_frames, height=8, width=10):
  """RGB frame t is all t; flow field t is x = 100 + t, y = 50 + t (no resize needed)."""
  t = np.arange(num_frames, dtype=np.uint8)
  rgb = np.broadcast_to(t[:, None, None, None] + 1, (num_frames, height, width, 3)).copy()
  flow = np.empty((num_frames - 1, height, width, 2), np.uint8)
  flow[..., 0] = 100 + t[:-1, None, None]
  flow[..., 1] = 50 + t[:-1, None, None]
  return {"rgb": rgb, "flow": flow, "label": 1, "group": 3, "name": "v", "path": "v.avi"}


def test_steps_see_one_frame_and_a_clamped_flow_stack():
  config = data_config("unused", max_steps=4, flow_stack=3, image_size=6, resize_size=8)
  record = _numbered_record(6)
  eval_out = ucf101.preprocess(config, train=False)(record, None)
  steps = ucf101.sample_steps(6, 4, False)
  assert steps.tolist() == [0, 2, 3, 5]  # the centres of 4 equal segments
  assert eval_out["rgb"][:, 0, 0, 0].tolist() == [s + 1 for s in steps]
  # step t: fields t, t+1, t+2, clamped to the last field (4), channels x0 y0 x1 y1 x2 y2
  expected = [[100 + min(s + k, 4) + d for k in range(3) for d in (0, -50)] for s in steps]
  assert eval_out["flow"][:, 3, 3].tolist() == expected
  whole = ucf101.all_steps(config, record)
  assert whole["rgb"].shape == (6, 6, 6, 3) and whole["flow"].shape == (6, 6, 6, 6)
  assert whole["flow"][5, 0, 0].tolist() == [104, 54] * 3
  np.testing.assert_array_equal(whole["flow"][steps], eval_out["flow"])

  rng = np.random.default_rng(1)
  flips = 0
  for _ in range(20):
    out = ucf101.preprocess(config, train=True)(record, rng)
    first = out["rgb"][:, 0, 0, 0].astype(int) - 1
    assert out["length"] == 4 and first[0] >= 0 and first[-1] <= 5
    assert ((np.diff(first) >= 1) & (np.diff(first) <= 2)).all()  # strides 1 to 6 / 4
    x = out["flow"][0, 0, 0, 0]
    assert x in (100 + first[0], 256 - 100 - first[0])  # flipped: x negated about 128
    flips += x < 128
    np.testing.assert_array_equal(out["flow"][0, ..., 1], 50 + first[0])  # y unchanged
  assert 3 <= flips <= 17
  draws = np.stack([ucf101.sample_steps(40, 4, True, np.random.default_rng(s))
                    for s in range(200)])
  assert draws.shape == (200, 4) and draws.min() >= 0 and draws.max() <= 39
  assert (np.diff(draws) >= 1).all() and (np.diff(draws) <= 11).all()  # strides 1 to 40/4
  spans = draws[:, -1] - draws[:, 0]  # from consecutive steps to evaluation's spread
  assert spans.min() <= 5 and spans.max() >= 27 and len(set(draws[:, 0])) > 20
  assert ucf101.sample_steps(3, 4, True, rng).tolist() == [0, 1, 2]


def test_resize_scales_flow_vectors_with_the_frames():
  config = data_config("unused", max_steps=2, flow_stack=1, image_size=16, resize_size=16)
  record = _numbered_record(2)  # 8 x 10 frames, x-flow 100 (-28 levels), y-flow 50 (-78)
  out = ucf101.preprocess(config, train=False)(record, None)
  assert out["flow"][0, 5, 5].tolist() == [128 - 56, 0]  # twice the size: twice the motion


def test_damaged_records_are_named_by_their_avi_file(tmp_path):
  _, dst = ucf101_tree.prepared()
  shutil.copytree(dst, tmp_path / "dst")
  shard = tmp_path / "dst" / "shard-00001-of-00004.array_record"
  data = bytearray(shard.read_bytes())
  jpeg = data.find(b"\xff\xd8\xff")  # the first JPEG of the first record: garbled
  data[jpeg:jpeg + 400] = bytes(400)
  shard.write_bytes(bytes(data))
  (tmp_path / "dst" / "shard-00003-of-00004.array_record").write_bytes(b"not a shard")
  config = data_config(tmp_path / "dst", split_index=2, max_bad_fraction=0.5)
  train = pipeline.open_source(config, "train")
  records = [train[i] for i in range(len(train))]
  assert len(records) == 9 and train.num_bad == 4  # one record, and a shard of three
  bad = "\n".join(train.examples())
  assert "UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi (record 0 of shard-00001" in bad
  assert "UCF-101/YoYo/v_YoYo_g03_c01.avi (record 0 of shard-00003-of-00004" in bad
  with pytest.raises(TooManyBadRecordsError, match="v_HandStandPushups_g01_c01.avi"):
    strict = pipeline.open_source(data_config(tmp_path / "dst", split_index=2), "train")
    [strict[i] for i in range(len(strict))]


def test_stand_in_goes_through_the_prepare_step_deterministically(tmp_path):
  kwargs = dict(objects=("ball", "star"), motions=("spinning", "sliding"), groups=3,
                clips_per_group=1, height=40, width=48, seconds=(1.0, 1.4), num_splits=1)
  classes = ucf101_stand_in.generate(str(tmp_path / "a"), seed=3, **kwargs)
  ucf101_stand_in.generate(str(tmp_path / "b"), seed=3, **kwargs)
  ucf101_stand_in.generate(str(tmp_path / "c"), seed=4, **kwargs)
  assert classes == ["BallSliding", "BallSpinning", "StarSliding", "StarSpinning"]
  files = sorted(os.path.relpath(os.path.join(d, f), tmp_path / "a")
                 for d, _, fs in os.walk(tmp_path / "a") for f in fs)
  assert len(files) == 4 * 3 + 3 + 1  # clips, lists, marker
  assert filecmp.cmpfiles(tmp_path / "a", tmp_path / "b", files, shallow=False)[0] == files
  clip = "UCF-101/StarSpinning/v_StarSpinning_g03_c01.avi"
  assert (tmp_path / "a" / clip).read_bytes() != (tmp_path / "c" / clip).read_bytes()
  assert (tmp_path / "a/ucfTrainTestlist/testlist01.txt").read_bytes().startswith(
      b"BallSliding/v_BallSliding_g01_c01.avi\r\nBallSliding/v_BallSliding_g02_c01.avi\r\n")

  manifest = prepare_ucf101.prepare(str(tmp_path / "a"), str(tmp_path / "p"), workers=1,
                                    progress=False)
  assert manifest["stand_in"] and manifest["class_words"][1] == ["ball", "spinning"]
  assert manifest["num_clips"] == 12 and not manifest["skipped"]
  config = data_config(tmp_path / "p", image_size=32, resize_size=40)
  assert ucf101.stand_in(config) and pipeline.is_stand_in(ucf101, config)
  test = ucf101.source(config, "test")
  assert len(test) == 8 and len(ucf101.source(config, "train")) == 4
  out = ucf101.preprocess(config, train=False)(test[0], None)
  assert out["rgb"].shape == (6, 32, 32, 3) and out["length"] == 6


def test_stand_in_words_and_motions():
  ucf101_stand_in.check_vocabulary(ucf101_stand_in.OBJECTS + ucf101_stand_in.MOTIONS)
  with pytest.raises(ValueError, match=r"not in GloVe 6B: \['zzqx'\]"):
    ucf101_stand_in.check_vocabulary(["ball", "zzqx"])
  tracks = {m: ucf101_stand_in._track(m, np.random.default_rng(0), 72, 96, 10.0, 60)
            for m in ucf101_stand_in.MOTIONS}
  y, x, angle = tracks["spinning"]
  assert np.ptp(x) == np.ptp(y) == 0 and np.ptp(angle) > 1
  y, x, angle = tracks["sliding"]
  assert np.ptp(x) > 30 and np.ptp(y) == np.ptp(angle) == 0
  y, x, angle = tracks["rolling"]  # turns by the distance travelled over the radius
  np.testing.assert_allclose(np.diff(angle), np.diff(x) / 10.0)
  assert np.ptp(x) > 30
  y, x, angle = tracks["falling"]
  assert (np.diff(y) >= 0).all() and np.ptp(y) > 20 and np.ptp(angle) == 0
  y, x, angle = tracks["bouncing"]
  assert (np.diff(y) > 0).any() and (np.diff(y) < 0).any() and np.ptp(y) > 15
  frames = ucf101_stand_in.render_clip("star", "spinning", np.random.default_rng(0),
                                       height=36, width=48, num_frames=5)
  assert frames.shape == (5, 36, 48, 3) and frames.dtype == np.uint8
  assert np.abs(np.diff(frames.astype(int), axis=0)).mean() > 2  # it moves
