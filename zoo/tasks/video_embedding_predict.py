"""A Video2Vec run on video files: each video's nearest class words (top-5 of the run's
classes by cosine in the word-vector space), `query=[WORD, ...]` ranks the videos by each
word (semantic retrieval over the user's own videos), `classes=[NAME, ...]` is zero-shot
recognition over class names the user gives (CamelCase, spaces or underscores split words).

A video (any size, frame rate or container OpenCV's FFmpeg reads) goes through the prepare
step's own functions with the prepared data's settings (its `manifest.json`): frames kept
at its fps and resized to its frame size (`decode_clip`), flow and the JPEG round trip of
a stored record (`encode_clip`, `decode_record`); then, with frozen CNNs, every time step
through the run's spatial and temporal CNNs (`video_features.clip_features`, as the
`features` stage computed the cache), and the data module's evaluation `preprocess` and
the task's `predict_fn` (RNNs and MLP) as evaluation runs them. `times` holds the seconds
spent decoding, on flow, in the CNNs (summed over the reading threads) and in the RNN/MLP.
"""
import collections
import os
import re
import threading
import time

import jax
import numpy as np

from zoo import predict as predict_lib
from zoo.data import ucf101, video_features, word_vectors
from zoo.data.prepare import ucf101 as prepare

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv")
TOP_K = 5
# A run on whole clips (`data.max_steps=0`) gets every step of a video up to this many
# (25.6 s at 10 fps; masked by length, so padding changes nothing); a longer video's steps
# are spaced evenly over it, as `max_steps` would.
WHOLE_CLIP_STEPS = 256


def name_words(name: str) -> list:
  """'PlayingGuitar', 'playing guitar', 'playing_guitar' -> ['playing', 'guitar']."""
  return [w for part in re.split(r"[\s_]+", name.strip()) if part
          for w in (prepare.class_words(part) or [part.lower()])]


class Predictor(predict_lib.Predictor):

  def __init__(self, workdir, checkpoint="latest"):
    super().__init__(workdir, checkpoint)
    d = self.config.data
    self.manifest = ucf101.read_manifest(d.dir)
    self.class_names = [" ".join(words) for words in self.manifest["class_words"]]
    self.vectors = word_vectors.load(self.config.get("word_vectors", ""))
    self.frozen = d.name == "video_features" and d.freeze_cnn
    if self.frozen:
      self.spatial, _ = video_features.cnn_features(d.spatial_cnn, self.compiler_options)
      self.temporal, _ = video_features.cnn_features(d.flow_cnn, self.compiler_options)
    self.times, self._lock = collections.Counter(), threading.Lock()
    self.rankings, self.zero_shot = {}, None

  def _time(self, stage, start):
    now = time.perf_counter()
    with self._lock:
      self.times[stage] += now - start
    return now

  def read_video(self, path: str) -> dict:
    """A video file as the prepared data's record (and, with frozen CNNs, its features)."""
    flow = self.manifest["flow"]
    start = time.perf_counter()
    frames = prepare.decode_clip(path, self.manifest["fps"], self.manifest["frame_size"])
    start = self._time("decode", start)
    clip = prepare.Clip(name=os.path.basename(path), listed=path, label=0, group=0, file=path)
    record = prepare.decode_record(prepare.encode_clip(clip, frames, flow["method"],
                                                       flow["bound"]))
    start = self._time("flow", start)
    self._thumbs[path] = record["rgb"][len(record["rgb"]) // 2]
    if self.frozen:
      features = video_features.clip_features(self.config.data, record, self.spatial,
                                              self.temporal)
      record = {**features, "label": 0, "name": record["name"]}
      self._time("cnn", start)
    return record

  def predict(self, inputs, query=(), classes=()):
    """One row per readable video (`path`, `steps`, the top-5 class words and cosines, and
    with `classes` the zero-shot class); `query` rankings are in `self.rankings`."""
    paths = self.input_files(inputs, VIDEO_EXTENSIONS)
    self.times.clear()
    self._thumbs = {}
    task = self.task

    def per_example(state, batch):
      out = task.predict_fn(state, batch)
      return {"embedding": out["embedding"], "similarities": out["similarities"],
              "length": batch["length"]}

    predict_fn = self.jit(per_example, "video")

    def timed(state, batch):
      start = time.perf_counter()
      out = jax.block_until_ready(predict_fn(state, batch))
      self._time("rnn_mlp", start)
      return out

    source = self.open_files(paths, self.read_video,
                             lambda record: self.data.validate(self.config.data, record))
    start = time.perf_counter()
    preprocess = self.data.preprocess(self.config.data, train=False)
    if not self.config.data.get("max_steps", 1):  # a whole-clip run: one padded length
      whole = preprocess
      preprocess = lambda record, rng: whole(record, rng, pad_to=WHOLE_CLIP_STEPS)
    indices, out = self.run_batches(source, timed, preprocess)
    self.times["wall"] = time.perf_counter() - start
    order = np.argsort(indices)
    paths = [paths[i] for i in indices[order]]
    embeddings, sims = out["embedding"][order], out["similarities"][order]
    rows = []
    for path, s, length in zip(paths, sims, out["length"][order]):
      row = {"path": path, "steps": int(length)}
      for j, c in enumerate(np.argsort(-s, kind="stable")[:TOP_K]):
        row[f"class_{j + 1}"], row[f"cos_{j + 1}"] = self.class_names[c], round(float(s[c]), 6)
      rows.append(row)
    if classes:
      vectors = word_vectors.class_vectors(self.vectors, [name_words(c) for c in classes])
      vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
      cos = embeddings @ vectors.T
      self.zero_shot = list(classes)
      for row, c in zip(rows, cos):
        best = int(np.argmax(c))
        row.update(zero_shot=classes[best], zero_shot_cos=round(float(c[best]), 6))
    self.rankings = {}
    for word in query or ():
      try:
        v = self.vectors.phrase(name_words(word))
      except KeyError as e:
        raise predict_lib.PredictError(f"--query: no word vector for {e.args[0]} in "
                                       f"{self.vectors.source}") from None
      cos = embeddings @ (v / np.linalg.norm(v))
      self.rankings[word] = [(paths[k], float(cos[k])) for k in np.argsort(-cos, kind="stable")]
    return rows

  def write(self, out_dir: str, rows) -> list:
    os.makedirs(out_dir, exist_ok=True)
    files = [os.path.join(out_dir, "predictions.csv")]
    predict_lib.write_table(files[-1], rows)
    if self.rankings:
      files.append(os.path.join(out_dir, "retrieval.csv"))
      predict_lib.write_table(files[-1], [
          {"query": word, "rank": k + 1, "path": path, "cos": round(cos, 6)}
          for word, ranked in self.rankings.items() for k, (path, cos) in enumerate(ranked)])
    files.append(os.path.join(out_dir, "videos.png"))
    shown = rows[:24]
    predict_lib.contact_sheet(
        files[-1], [self._thumbs[r["path"]] for r in shown],
        [f"{os.path.basename(r['path'])}\n{r.get('zero_shot') or r['class_1']}" for r in shown],
        title="middle frame; nearest class" + (" (zero-shot)" if self.zero_shot else ""))
    text = ["# Video2Vec\n", self.summary_header(),
            f"{len(rows)} videos at {self.manifest['fps']:g} fps, "
            f"{self.manifest['flow']['method']} flow; nearest of the run's "
            f"{len(self.class_names)} classes by cosine in {self.vectors.source}.\n",
            predict_lib.markdown_table(rows, ["path", "steps", "class_1", "cos_1", "class_2",
                                              "cos_2"] + (["zero_shot"] if self.zero_shot else []))]
    if self.zero_shot:
      text.append(f"\nZero-shot over: {', '.join(self.zero_shot)}\n")
    for word, ranked in self.rankings.items():
      text.append(f"\n## Query '{word}'\n\n" + predict_lib.markdown_table(
          [{"rank": k + 1, "path": p, "cos": c} for k, (p, c) in enumerate(ranked)], limit=10))
    seconds = ", ".join(f"{k} {v:.2f}" for k, v in self.times.items())
    text += [f"\nSeconds: {seconds} (decode, flow and cnn summed over the reading threads).",
             self.skipped_markdown()]
    files.append(os.path.join(out_dir, "summary.md"))
    with open(files[-1], "w") as f:
      f.write("\n".join(text))
    return files
