"""`python -m launch.predict` / `zoo.predict.load(workdir).predict(inputs)`: each task from
its smoke run's checkpoint on files the test writes (one corrupt), one prediction checked
against what the evaluation pass computes for the same example."""
import csv
import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, launch, xla_flags
from zoo import predict
from zoo.data import image_transforms, pipeline


def run_predict(*args, devices=8):
  """`python -m launch.predict ARGS` in a subprocess: (exit status, stdout, stderr)."""
  env = dict(os.environ, XLA_FLAGS=xla_flags(devices))
  proc = subprocess.run([sys.executable, "-m", "launch.predict", *args], cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=600)
  return proc.returncode, proc.stdout, proc.stderr


def snapshot(workdir):
  """Every file under `workdir` with its size and modification time."""
  return {os.path.join(d, f): (os.path.getsize(os.path.join(d, f)),
                               os.path.getmtime(os.path.join(d, f)))
          for d, _, files in os.walk(workdir) for f in files}


def write_bad_inputs(folder):
  """A truncated JPEG and a text file: the first is skipped for not decoding, the second
  for not being an image."""
  with open(os.path.join(folder, "broken.jpg"), "wb") as f:
    f.write(b"\xff\xd8\xff\xe0 this is not the rest of a JPEG")
  with open(os.path.join(folder, "notes.txt"), "w") as f:
    f.write("not an image")


def read_csv(path):
  with open(path) as f:
    return list(csv.DictReader(f))


def evaluation_outputs(p: predict.Predictor, split: str, fn):
  """`fn(state, batch)` on the first evaluation batch of `split`, as the evaluators build it."""
  source = pipeline.open_source(p.config.data, split, train=False)
  batch = next(pipeline.eval_batches(p.config.data, source,
                                     local_batch_size=p.config.eval_batch_size))
  return jax.device_get(fn(p.state, p.to_device(batch)))


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("vgg_f"))
  launch("--experiment=imagenet_vgg_f:smoke", f"--workdir={workdir}")
  return workdir


def test_classification_predicts_what_evaluation_does(classifier_run, tmp_path):
  """The command on three test-split images (drawn as the evaluation's records, saved
  losslessly), a corrupt one and a text file: top-5 rows equal to the evaluation's
  probabilities, the bad files listed, the workdir untouched."""
  from zoo.data import shapes
  images = tmp_path / "images"
  images.mkdir()
  p = predict.load(classifier_run)
  size = image_transforms.resize_size(p.config.data)
  for i in range(3):
    record = shapes.draw(p.config.data.seed, "test", i, size)
    Image.fromarray(record["image"]).save(images / f"{i}.png")
  write_bad_inputs(images)
  before = snapshot(classifier_run)
  status, out, err = run_predict(f"--workdir={classifier_run}", f"--out={tmp_path / 'out'}",
                                 str(images))
  assert status == 0, err[-3000:]
  assert "3 predictions (2 inputs skipped)" in out
  assert "skipped" in err and "broken.jpg" in err and "notes.txt" in err
  rows = read_csv(tmp_path / "out" / "predictions.csv")
  assert [os.path.basename(r["path"]) for r in rows] == ["0.png", "1.png", "2.png"]
  for name in ("summary.md", "predictions.png"):
    assert (tmp_path / "out" / name).stat().st_size > 0
  assert "broken.jpg" in (tmp_path / "out" / "summary.md").read_text()
  assert snapshot(classifier_run) == before

  expected = evaluation_outputs(p, "test", p.task.predict_fn)["logits"]
  probs = np.asarray(jax.nn.softmax(expected))
  for i, row in enumerate(rows):
    top = np.argsort(-probs[i])[:5]
    assert [row[f"class_{j + 1}"] for j in range(5)] == [shapes.CLASS_NAMES[k] for k in top]
    np.testing.assert_allclose([float(row[f"p_{j + 1}"]) for j in range(5)], probs[i][top],
                               atol=2e-6)
  # Python: ten crops average ten predictions, so they differ from the centre crop's.
  ten = p.predict([str(images / "0.png")], crops="ten")
  assert p.skipped == [] and ten[0]["p_1"] != float(rows[0]["p_1"])


def test_bad_runs_and_inputs_are_one_line_errors(classifier_run, tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(predict.PredictError, match="the folder holds no jpg"):
    predict.load(classifier_run).predict([str(tmp_path / "empty")])
  with pytest.raises(predict.PredictError, match="no such file, folder or matching pattern"):
    predict.load(classifier_run).predict([str(tmp_path / "*.jpg")])
  os.makedirs(tmp_path / "run")
  with pytest.raises(predict.PredictError, match="is not a run's workdir"):
    predict.load(str(tmp_path / "run"))
  with open(os.path.join(classifier_run, "config.json")) as f:
    (tmp_path / "run" / "config.json").write_text(f.read())
  with pytest.raises(predict.PredictError, match=f"{tmp_path / 'run'} holds no checkpoint"):
    predict.load(str(tmp_path / "run"))
  with pytest.raises(predict.PredictError, match="holds no checkpoint '7'"):
    predict.load(classifier_run, checkpoint="7")
  with pytest.raises(predict.PredictError, match="task 'attribute_classification' has no "
                     "predict"):
    predict.predictor_class("attribute_classification")
  write_bad_inputs(tmp_path)
  with pytest.raises(predict.PredictError, match="no input could be read: .*broken.jpg"):
    predict.load(classifier_run).predict([str(tmp_path / "broken.jpg")])


@pytest.mark.slow
def test_diabetic_retinopathy_screen_matches_the_roc_evaluation(tmp_path):
  """P(referable) of fundus photographs equal to the ROC evaluation's score of the same
  examples, decisions at its operating points, a photograph with no disc skipped."""
  from zoo.data import fundus
  from zoo.evaluators import roc
  run = str(tmp_path / "run")
  launch("--experiment=dr_inception_v3:smoke", f"--workdir={run}", devices=1)
  p = predict.load(run)
  images = tmp_path / "fundus"
  images.mkdir()
  for i in range(3):
    record = fundus.draw(p.config.data.seed, "test", i, p.config.data.image_size)
    Image.fromarray(record["image"]).save(images / f"{i}.png")
  Image.fromarray(np.zeros((80, 80, 3), np.uint8)).save(images / "black.png")
  write_bad_inputs(images)
  before = snapshot(run)
  rows = p.predict([str(images)], ensemble=[run])  # itself: the same distribution
  assert [os.path.basename(r["path"]) for r in rows] == ["0.png", "1.png", "2.png"]
  assert {os.path.basename(path) for path, _ in p.skipped} == {"black.png", "broken.jpg",
                                                               "notes.txt"}
  assert "no fundus disc" in dict(p.skipped)[str(images / "black.png")]
  expected = evaluation_outputs(
      p, "test", lambda s, b: roc.positive_log_odds(p.task.predict_fn(s, b)["logits"], 2))
  np.testing.assert_allclose([r["log_odds"] for r in rows], expected[:3], atol=1e-5)
  with open(os.path.join(run, "roc_test.json")) as f:
    points = json.load(f)["operating_points"]
  for row in rows:
    assert row["grade_name"] in fundus.GRADE_NAMES
    for name, point in points.items():
      threshold = point["threshold_log_odds"]
      refer = threshold is not None and row["log_odds"] >= threshold
      assert row[f"refer_{name}"] == refer
  files = p.write(str(tmp_path / "out"), rows)
  assert "specificity" in open(files[1]).read() and snapshot(run) == before


@pytest.mark.slow
def test_relative_aesthetics_scores_ranks_and_pairs(tmp_path):
  """d of a test pair equal to the ranking evaluation's; photos ranked by score."""
  run = str(tmp_path / "run")
  launch("--experiment=aesthetics_relative:smoke", f"--workdir={run}", devices=1)
  p = predict.load(run)
  source = pipeline.open_source(p.config.data, "test_pairs", train=False)
  a, b = source.source[0]["path"].split(" & ")
  photos = tmp_path / "photos"
  photos.mkdir()
  for path in (a, b):
    shutil.copy(path, photos)
  write_bad_inputs(photos)
  a, b = str(photos / os.path.basename(a)), str(photos / os.path.basename(b))
  rows = p.predict([str(photos)], pairs=[f"{a}:{b}"])
  ranked = [r for r in rows if r["kind"] == "photo"]
  pair = [r for r in rows if r["kind"] == "pair"][0]
  assert [r["rank"] for r in ranked] == [1, 2]
  assert ranked[0]["score"] >= ranked[1]["score"]
  assert {os.path.basename(path) for path, _ in p.skipped} == {"broken.jpg", "notes.txt"}
  expected = evaluation_outputs(p, "test_pairs", p.task.predict_fn)
  np.testing.assert_allclose(pair["d"], expected["d"][0], atol=1e-5)
  assert pair["better"] == (a if expected["d"][0] > 0 else b)
  scores = {r["path"]: r["score"] for r in ranked}
  np.testing.assert_allclose([scores[a], scores[b]],
                             [expected["score1"][0], expected["score2"][0]], atol=1e-5)
  files = p.write(str(tmp_path / "out"), rows)
  assert [os.path.basename(f) for f in files] == ["scores.csv", "ranking.png", "pairs.csv",
                                                  "summary.md"]


@pytest.mark.slow  # a GAN smoke run first: ~22 s (make test's 10-minute budget)
def test_gan_samples_redraw_the_evaluation_grid(tmp_path):
  """`num=rows*cols` from the samples evaluation's seed gives its grid pixel for pixel;
  walks start and end at their own noise vectors."""
  run = str(tmp_path / "run")
  launch("--experiment=gan_digits:smoke", f"--workdir={run}", devices=1)
  p = predict.load(run)  # the command line is the classification test's
  files = p.write(str(tmp_path / "out"), p.predict(num=100, seed=1))
  assert [os.path.basename(f) for f in files] == ["samples.csv", "grid.png", "samples",
                                                  "summary.md"]
  grid_png = np.asarray(Image.open(os.path.join(run, "samples.png")))[..., 0]
  h = 8 * 4  # samples evaluation: scale 4, a 1-pixel gap
  for i in (0, 13, 99):
    r, c = divmod(i, 10)
    cell = grid_png[1 + r * (h + 1):1 + r * (h + 1) + h:4, 1 + c * (h + 1):1 + c * (h + 1) + h:4]
    sample = np.asarray(Image.open(tmp_path / "out" / "samples" / f"sample_{i:04d}.png"))
    np.testing.assert_array_equal(sample, cell)
  rows = p.predict(num=2, interpolate=True, seed=3)
  assert len(rows) == 20 and rows[9]["t"] == 1.0 and rows[10]["walk"] == 1
  ends = p.sampler.noise(3, 4)
  direct = sampling_to_uint8(p.sampler(p.state, ends, np.zeros(4, np.int32)))
  np.testing.assert_array_equal(p.samples[[0, 9, 10, 19]], direct)
  with pytest.raises(predict.PredictError, match="not class-conditional"):
    p.predict(num=2, label=3)
  with pytest.raises(predict.PredictError, match="takes no input files"):
    p.predict([str(tmp_path)])


def sampling_to_uint8(x):
  from zoo.evaluators import sampling
  return sampling.to_uint8(x)


@pytest.mark.slow
def test_video2vec_on_video_files(tmp_path):
  """Stand-in .avi files through the prepare step's functions and the run's networks give
  the similarities the evaluation computes from the feature cache for the same clips; a
  truncated video is skipped; queries rank the inputs; zero-shot over given names."""
  from zoo.data import video_features
  runs = tmp_path / "runs"
  run = str(runs / "video2vec_smoke")
  launch("--experiment=video2vec:smoke", f"--workdir={run}", devices=1)
  p = predict.load(run)
  names = ["v_BallFalling_g01_c01", "v_BoxRolling_g01_c01"]
  videos = tmp_path / "videos"
  videos.mkdir()
  for name in names:
    folder = name.split("_")[1]
    shutil.copy(os.path.join(p.config.data.src, "UCF-101", folder, name + ".avi"), videos)
  with open(videos / f"{names[0]}.avi", "rb") as f:
    (videos / "truncated.avi").write_bytes(f.read()[:3000])
  (videos / "notes.txt").write_text("not a video")
  before = snapshot(run)
  rows = p.predict([str(videos)], query=["roll"], classes=["BallFalling", "box rolling"])
  assert [os.path.basename(r["path"]) for r in rows] == [n + ".avi" for n in names]
  assert {os.path.basename(path) for path, _ in p.skipped} == {"truncated.avi", "notes.txt"}
  assert {w for r in rows for w in [r["zero_shot"]]} <= {"BallFalling", "box rolling"}
  assert [path for path, _ in p.rankings["roll"]] and len(p.rankings["roll"]) == 2
  assert p.times["decode"] > 0 and p.times["flow"] > 0 and p.times["cnn"] > 0

  d = p.config.data
  cache = video_features.CacheSource(video_features.cache_dir(d), names)
  preprocess = p.data.preprocess(d, train=False)
  predict_fn = jax.jit(p.task.predict_fn)  # clip by clip: whole clips differ in length
  expected = [jax.device_get(predict_fn(p.state, jax.tree.map(
      lambda x: np.asarray(x)[None], preprocess(cache[i], None))))["similarities"][0]
              for i in range(len(names))]
  for row, sims in zip(rows, expected):
    top = np.argsort(-sims, kind="stable")[:len(p.class_names)]
    assert row["class_1"] == p.class_names[top[0]]
    np.testing.assert_allclose(row["cos_1"], sims[top[0]], atol=1e-4)
  files = p.write(str(tmp_path / "out"), rows)
  assert "retrieval.csv" in [os.path.basename(f) for f in files]
  assert snapshot(run) == before


@pytest.mark.slow
def test_face_attributes_edit_matches_the_generator(tmp_path):
  """Stand-in faces saved as PNG and edited through the command give the generator's output
  on the evaluation's own arrays; a face of the wrong size and a corrupt file are skipped."""
  from zoo.data import faces
  judge = tmp_path / "face_attribute_classifier_smoke"
  launch("--experiment=face_attribute_classifier:smoke", f"--workdir={judge}", devices=1)
  run = str(tmp_path / "face_attributes_smoke")
  launch("--experiment=face_attributes:smoke", f"--workdir={run}",
         f"--config.manipulation.classifier={judge}", devices=1)
  p = predict.load(run)
  size, index = p.config.data.image_size, p.task.index
  records = [faces.draw(p.config.data.seed, "test", i, size) for i in range(40)]
  without = [r for r in records if not r["attributes"][index]][:2]
  with_ = [r for r in records if r["attributes"][index]][:2]
  folder = tmp_path / "faces"
  folder.mkdir()
  for name, r in zip(["s0", "s1", "r0", "r1"], without + with_):
    Image.fromarray(r["image"]).save(folder / f"{name}.png")
  Image.fromarray(np.zeros((size + 5, size, 3), np.uint8)).save(folder / "wrong_size.png")
  write_bad_inputs(folder)
  rows = p.predict([str(folder / "s1.png"), str(folder / "wrong_size.png"),
                    str(folder / "broken.jpg")], source=str(folder / "s0.png"),
                   reference=[str(folder / "r0.png"), str(folder / "r1.png")])
  assert [os.path.basename(r["source"]) for r in rows] == ["s0.png", "s1.png"]
  assert {os.path.basename(path) for path, _ in p.skipped} == {"wrong_size.png", "broken.jpg"}
  to_model = lambda rs: np.stack([r["image"] for r in rs]).astype(np.float32) / 127.5 - 1
  refs = to_model(with_)
  expected = jax.device_get(jax.jit(p.task.predict_fn)(p.state, {
      "source": to_model(without), "references": np.stack([refs, refs])}))
  np.testing.assert_allclose(p.results["targets"], expected["target"], atol=1e-5)
  np.testing.assert_allclose(p.results["masks"], expected["mask"], atol=1e-5)
  files = p.write(str(tmp_path / "out"), rows)
  assert all(os.path.getsize(f) > 0 for f in files)
  assert np.asarray(Image.open(tmp_path / "out" / "s0_picture.png")).shape[1] > 4 * size
