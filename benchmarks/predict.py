"""Prediction (`zoo.predict`) against the evaluation pass of the same run, in one process,
each timed as the median of three passes alternated with the other's, after one that
compiles:

- classification: the run's checkpoint on N JPEG files (the shapes drawn at ImageNet's
  500x375, `image_folder.write_images`), predicted, and evaluated as an `image_folder`
  split of the same files by the run's `classification` evaluator;
- Video2Vec: the run's stand-in video files predicted (decode, flow, CNNs, RNN/MLP), and
  its `video_recognition` evaluation pass (which reads the feature cache), with the
  prediction's time per stage.

  python -m benchmarks.predict --classification=RUN --video=RUN [--images=N]
"""
import json
import os
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_string("classification", None, "A classification run on the shapes stand-in.")
flags.DEFINE_string("video", None, "A Video2Vec run.")
flags.DEFINE_integer("images", 256, "JPEG files for the classification comparison.")
FLAGS = flags.FLAGS


def _alternated(a, b, repeats: int = 3):
  """Median seconds of `a()` and of `b()`, each called once to compile, then `repeats`
  times in turn (a machine's load then weighs on both alike)."""
  a()
  b()
  times = ([], [])
  for _ in range(repeats):
    for fn, out in zip((a, b), times):
      start = time.perf_counter()
      fn()
      out.append(time.perf_counter() - start)
  return float(np.median(times[0])), float(np.median(times[1]))


def classification(run: str, count: int) -> dict:
  from zoo import predict
  from zoo.data import image_folder
  from zoo.evaluators import classification as evaluator
  p = predict.load(run)
  folder = tempfile.mkdtemp()
  image_folder.write_images(folder, "test", count // 10, num_classes=10)
  config = p.config.copy_and_resolve_references()
  config.data.update(dict(name="image_folder", dir=folder, train_split="test"))
  config.evals.val.split = "test"
  ev = evaluator.Evaluator(config.evals.val, config=config, predict_fn=p.task.predict_fn,
                           to_device=p.to_device)
  n = (count // 10) * 10
  rows = []
  evaluate, predicting = _alternated(lambda: ev.run(p.state),
                                     lambda: rows.append(p.predict([folder])))
  assert len(rows[-1]) == n
  return {"inputs": n, "evaluation_per_s": n / evaluate, "prediction_per_s": n / predicting,
          "ratio": evaluate / predicting}


def video(run: str) -> dict:
  from zoo import predict
  from zoo.evaluators import video_recognition
  p = predict.load(run)
  videos = os.path.join(p.config.data.src, "UCF-101")
  ev = video_recognition.Evaluator(p.config.evals.recognition, config=p.config,
                                   predict_fn=p.task.predict_fn, to_device=p.to_device)
  evaluated = len(ev.source)
  rows = []
  evaluate, predicting = _alternated(lambda: ev.run(p.state),
                                     lambda: rows.append(p.predict([videos])))
  n = len(rows[-1])
  return {"videos": n, "evaluation_clips": evaluated,
          "evaluation_per_s": evaluated / evaluate, "prediction_per_s": n / predicting,
          "prediction_seconds_last_pass": {k: round(v, 3) for k, v in p.times.items()}}


def main(argv):
  del argv
  results = {}
  if FLAGS.classification:
    results["classification"] = classification(FLAGS.classification, FLAGS.images)
  if FLAGS.video:
    results["video2vec"] = video(FLAGS.video)
  print(json.dumps(results, indent=1))


if __name__ == "__main__":
  app.run(main)
