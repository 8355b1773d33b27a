"""The UCF101 prepare step on a tiny tree in the real format: list quirks, one-line errors
naming file and line, skipped clips with reasons, resumable and worker-independent shards,
shares over machines, settings refused, and the optical flow itself."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import ucf101_tree
from zoo.data.prepare import ucf101 as prepare_ucf101


def test_lists_are_read_as_the_real_files_are():
  src, _ = ucf101_tree.prepared()
  classes, clips, splits = prepare_ucf101.read_split_lists(src, (1, 2))
  assert classes == list(ucf101_tree.CLASSES)
  by_name = {c.name: c for c in clips}
  assert len(clips) == 15
  # the folder's spelling and the file's differ; a list line in a third case finds the file
  quirk = by_name["v_HandStandPushups_g03_c01"]
  assert quirk.file == "UCF-101/HandstandPushups/v_HandStandPushups_g03_c01.avi"
  assert quirk.listed == "UCF-101/HandstandPushups/v_HandstandPushups_g03_c01.avi"
  assert (quirk.label, quirk.group) == (1, 3)
  # test lists carry no labels: they come from classInd.txt through the folder
  assert {by_name[n].label for n in splits["1"]["test"]} == {0, 1, 2}
  assert {by_name[n].group for n in splits["1"]["test"]} == {1}
  assert {by_name[n].group for n in splits["2"]["train"]} == {1, 3, 4}
  assert by_name["v_ApplyEyeMakeup_g04_c02"].file is None  # listed but missing
  assert prepare_ucf101.class_words("ApplyEyeMakeup") == ["apply", "eye", "makeup"]
  assert prepare_ucf101.class_words("YoYo") == ["yo", "yo"]
  assert prepare_ucf101.class_words("HandstandPushups") == ["handstand", "pushups"]


@pytest.mark.parametrize("file, line, replacement, message", [
    ("classInd.txt", 2, "2HandstandPushups", r"classInd.txt:2: expected 'INDEX CLASS'"),
    ("classInd.txt", 3, "4 YoYo", r"classInd.txt: indices must run 1..3"),
    ("trainlist01.txt", 3, "Juggling/v_Juggling_g02_c01.avi 4",
     r"trainlist01.txt:3: unknown class 'Juggling'"),
    ("trainlist01.txt", 1, "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 2",
     r"trainlist01.txt:1: label 2 does not match class 'ApplyEyeMakeup'"),
    ("testlist01.txt", 2, "HandstandPushups/clip.avi",
     r"testlist01.txt:2: 'clip.avi' is not a UCF101 clip name"),
    ("testlist01.txt", 1, "v_ApplyEyeMakeup_g01_c01.avi",
     r"testlist01.txt:1: expected 'CLASS/v_CLASS_gGG_cCC.avi \[LABEL\]'"),
    ("testlist01.txt", 1, "ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi",
     r"trainlist01.txt and \S*testlist01.txt share groups \[2\]"),
    ("testlist02.txt", None, None, r"testlist02.txt: missing"),
])
def test_malformed_lists_are_one_line_errors_naming_file_and_line(
    tmp_path, file, line, replacement, message):
  src, _ = ucf101_tree.prepared()
  shutil.copytree(os.path.join(src, "ucfTrainTestlist"), tmp_path / "ucfTrainTestlist")
  os.symlink(os.path.join(src, "UCF-101"), tmp_path / "UCF-101")
  path = tmp_path / "ucfTrainTestlist" / file
  if replacement is None:
    path.unlink()
  else:
    lines = path.read_bytes().decode().split("\r\n")
    lines[line - 1] = replacement
    path.write_bytes("\r\n".join(lines).encode())
  with pytest.raises(prepare_ucf101.PrepareError, match=message) as error:
    prepare_ucf101.prepare(str(tmp_path), str(tmp_path / "dst"), splits=(1, 2), workers=1,
                           progress=False)
  assert "\n" not in str(error.value) and str(path) in str(error.value)
  assert not (tmp_path / "dst").exists()  # refused before anything is written


def test_bad_clips_are_skipped_with_their_reason_and_the_rest_written():
  _, dst = ucf101_tree.prepared()
  with open(os.path.join(dst, "manifest.json")) as f:
    manifest = json.load(f)
  reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
  assert sorted(reasons) == sorted([ucf101_tree.TRUNCATED, ucf101_tree.EMPTY,
                                    ucf101_tree.MISSING])
  assert reasons[ucf101_tree.MISSING].startswith("listed but missing")
  assert reasons[ucf101_tree.EMPTY].startswith("does not open")
  assert re.fullmatch(r"truncated or damaged: [0-9] of the 30 frames its header announces "
                      r"decode", reasons[ucf101_tree.TRUNCATED])
  assert manifest["num_clips"] == 12 and not manifest["stand_in"]
  assert manifest["classes"] == list(ucf101_tree.CLASSES)
  assert manifest["class_words"] == [["apply", "eye", "makeup"], ["handstand", "pushups"],
                                     ["yo", "yo"]]
  assert manifest["frame_size"] == [ucf101_tree.HEIGHT, ucf101_tree.WIDTH]
  assert manifest["flow"]["method"] == "farneback" and manifest["flow"]["bound"] == 20.0
  # 25 -> 10 fps keeps the first frame at or after each tick: ceil(n * 10 / 25) frames
  frames = {r["name"]: r["frames"] for r in manifest["records"]}
  assert frames["v_YoYo_g04_c02"] == -(-ucf101_tree.clip_frames(2, 4, 2) * 10 // 25) == 10
  assert manifest["num_frames"] == sum(frames.values())
  written = set(frames)
  for sides in manifest["splits"].values():
    assert set(sides["train"]) | set(sides["test"]) <= written
  assert "v_YoYo_g01_c01" not in manifest["splits"]["1"]["test"]
  assert len(manifest["splits"]["1"]["test"]) == 2 and len(manifest["splits"]["2"]["test"]) == 3


def test_two_workers_and_a_resumed_run_write_the_same_shards(tmp_path):
  src, dst = ucf101_tree.prepared()
  reference = ucf101_tree.shard_bytes(dst)
  assert len([n for n in reference if n.endswith(".array_record")]) == 4
  prepare_ucf101.prepare(src, str(tmp_path), splits=(1, 2), workers=2, progress=False,
                         clips_per_shard=ucf101_tree.CLIPS_PER_SHARD)
  assert ucf101_tree.shard_bytes(str(tmp_path)) == reference
  # what a kill leaves: a shard without its .json (unfinished), a half-written temporary
  # file, no manifest; the re-run redoes only that shard
  os.remove(tmp_path / "shard-00001-of-00004.json")
  (tmp_path / "shard-00001-of-00004.array_record").write_bytes(b"half")
  (tmp_path / "shard-00002-of-00004.array_record.tmp-123").write_bytes(b"half")
  os.remove(tmp_path / "manifest.json")
  finished = os.path.getmtime(tmp_path / "shard-00000-of-00004.array_record")
  manifest = prepare_ucf101.prepare(src, str(tmp_path), splits=(1, 2), workers=1,
                                    progress=False, clips_per_shard=ucf101_tree.CLIPS_PER_SHARD)
  assert ucf101_tree.shard_bytes(str(tmp_path)) == reference
  assert os.path.getmtime(tmp_path / "shard-00000-of-00004.array_record") == finished
  with open(os.path.join(dst, "manifest.json")) as f:
    assert manifest == json.load(f)


def test_a_killed_run_resumes_to_the_same_shards(tmp_path):
  src, dst = ucf101_tree.prepared()
  # niced, so that this process, which kills it once its second shard is done, keeps up
  command = ["nice", "-n", "19", sys.executable, "-m", "zoo.data.prepare.ucf101",
             f"--src={src}", f"--dst={tmp_path}", "--splits=1,2", "--workers=1",
             "--clips_per_shard=1", "--no_progress"]
  proc = subprocess.Popen(command, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
      os.path.abspath(__file__)))), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.time() + 60
  while not (tmp_path / "shard-00001-of-00015.json").exists() and time.time() < deadline:
    time.sleep(0.002)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = [n for n in os.listdir(tmp_path) if n.endswith(".json") and n.startswith("shard-")]
  assert 2 <= len(done) < 15 and not (tmp_path / "manifest.json").exists()
  manifest = prepare_ucf101.prepare(src, str(tmp_path), splits=(1, 2), workers=1,
                                    progress=False, clips_per_shard=1)
  uninterrupted = tmp_path / "uninterrupted"
  prepare_ucf101.prepare(src, str(uninterrupted), splits=(1, 2), workers=1, progress=False,
                         clips_per_shard=1)
  assert ucf101_tree.shard_bytes(str(tmp_path)) == ucf101_tree.shard_bytes(str(uninterrupted))
  assert manifest["num_clips"] == 12 and len(manifest["skipped"]) == 3


def test_shares_over_machines_then_the_last_writes_the_manifest(tmp_path):
  src, dst = ucf101_tree.prepared()
  kwargs = dict(splits=(1, 2), workers=1, progress=False,
                clips_per_shard=ucf101_tree.CLIPS_PER_SHARD)
  assert prepare_ucf101.prepare(src, str(tmp_path), shard=(1, 2), **kwargs) is None
  assert sorted(n for n in os.listdir(tmp_path) if n.endswith(".array_record")) == [
      "shard-00001-of-00004.array_record", "shard-00003-of-00004.array_record"]
  manifest = prepare_ucf101.prepare(src, str(tmp_path), shard=(0, 2), **kwargs)
  assert ucf101_tree.shard_bytes(str(tmp_path)) == ucf101_tree.shard_bytes(dst)
  with open(os.path.join(dst, "manifest.json")) as f:
    assert manifest == json.load(f)


def test_a_dst_prepared_with_other_settings_is_refused_unless_restarted(tmp_path):
  src, dst = ucf101_tree.prepared()
  shutil.copytree(dst, tmp_path / "dst")
  with pytest.raises(prepare_ucf101.PrepareError,
                     match=r"dst was prepared with fps=10, splits=\[1, 2\]; this run asks "
                           r"fps=5, splits=\[1\] \(pass --restart to start over\)"):
    prepare_ucf101.prepare(src, str(tmp_path / "dst"), splits=(1,), fps=5, workers=1,
                           progress=False, clips_per_shard=ucf101_tree.CLIPS_PER_SHARD)
  manifest = prepare_ucf101.prepare(src, str(tmp_path / "dst"), splits=(1,), fps=5,
                                    workers=1, progress=False, restart=True)
  assert manifest["fps"] == 5 and list(manifest["splits"]) == ["1"]
  assert manifest["num_frames"] < 87 / 1.5  # about half the frames of 10 fps
  assert sorted(n for n in os.listdir(tmp_path / "dst") if n.startswith("shard")) == [
      "shard-00000-of-00001.array_record", "shard-00000-of-00001.json"]


def test_bad_flags_are_one_line_errors(tmp_path):
  src, _ = ucf101_tree.prepared()
  for kwargs, message in [(dict(flow="lk"), "--flow=lk: unknown method"),
                          (dict(shard=(2, 2)), r"--shard=2/2: needs 0 <= I < N"),
                          (dict(splits=(4,)), "--splits=4: UCF101 has splits 1, 2, 3")]:
    with pytest.raises(prepare_ucf101.PrepareError, match=message):
      prepare_ucf101.prepare(src, str(tmp_path), progress=False, **kwargs)
  with pytest.raises(prepare_ucf101.PrepareError, match="has no folder UCF-101/"):
    prepare_ucf101.prepare(str(tmp_path), str(tmp_path / "dst"), progress=False)


@pytest.mark.parametrize("method", ["farneback", "tvl1"])
def test_flow_of_a_shifted_texture_is_the_shift(method):
  rng = np.random.default_rng(0)
  texture = rng.uniform(0, 255, (30, 40))
  texture = np.kron(texture, np.ones((2, 2)))  # features a few pixels wide
  prev = texture.astype(np.uint8)
  next_ = np.roll(prev, (-2, 3), axis=(0, 1))  # content moves 3 right, 2 up
  flow = prepare_ucf101.compute_flow(prev, np.stack([next_] * 3, -1), method)
  assert flow.shape == (60, 80, 2) and flow.dtype == np.uint8
  centre = prepare_ucf101.dequantise_flow(flow[15:45, 20:60]).reshape(-1, 2)
  np.testing.assert_allclose(np.median(centre, axis=0), [3, -2], atol=0.3)
  still = prepare_ucf101.compute_flow(prev, prev, method)
  assert np.abs(still.astype(int) - 128).max() <= 1  # 128 is no motion
  q = prepare_ucf101.quantise_flow(np.array([[[0.0, 20.0], [-20.0, 100.0]]]))
  assert q.tolist() == [[[128, 255], [0, 255]]]


def test_a_worker_dying_on_a_clip_skips_that_clip_only():
  # jobs for the builtin eval, so the workers need not import this module; job 3 takes
  # its process down, as a decoder crashing on a damaged file would
  jobs = [f"({k} * 10, 1, None)" for k in range(8)]
  jobs[3] = "__import__('os')._exit(1)"
  results = list(prepare_ucf101.ordered_results(eval, jobs, 2))
  assert [r[0] for r in results] == [0, 10, 20, None, 40, 50, 60, 70]
  assert results[3][2] == "its worker process died on it (a decoder crash, or out of memory)"
