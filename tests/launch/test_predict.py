"""`python -m launch.predict` / `zoo.predict.load(workdir).predict(inputs)`: each task from
its smoke run's checkpoint on files the test writes (one corrupt), one prediction checked
against what the evaluation pass computes for the same example."""
import csv
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, launch
from zoo import predict
from zoo.data import image_transforms, pipeline


def run_predict(*args, devices=8):
  """`python -m launch.predict ARGS` in a subprocess: (exit status, stdout, stderr)."""
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
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
