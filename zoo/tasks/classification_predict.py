"""A classification run on image files: the top-5 classes with their probabilities.

Files are decoded with PIL (greyscale, CMYK and RGBA become RGB) and go through the data
module's evaluation `preprocess`: resize and centre crop, or the ten crops whose
predicted distributions are averaged (`crops='ten'`), as the run's evaluation did. Class
names come from the data: the tfds build's label names for ImageNet (WordNet synset IDs),
the class folders for `image_folder`, the stand-ins' own names.

A graded screen (a run with a `roc` evaluation: diabetic retinopathy) also gets
P(positive) (P(referable) = P(grade >= 2)), the predicted grade, and the decision at each
operating point its ROC evaluation chose, with the sensitivity and specificity it had
there (the run's `roc_SPLIT.json`, else `results.json`). The fundus disc is found and
scaled to the input as in training. `ensemble=[RUN, ...]` averages the predicted
distributions of those runs' checkpoints with this one's, as the evaluators do.
"""
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from zoo import predict as predict_lib
from zoo.evaluators import roc
from zoo.evaluators.ensemble import Ensemble

TOP_K = 5
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm")
_PICTURES = 24  # inputs shown in predictions.png


def read_image(path: str) -> dict:
  """{'image': uint8 HWC RGB, 'label': 0} (the label only satisfies `validate`)."""
  with Image.open(path) as image:
    return {"image": np.asarray(image.convert("RGB")), "label": np.int32(0)}


def class_names(data, data_config, count: int) -> tuple:
  """(names, where they came from): the data module's `class_names(data_config)`,
  `CLASS_NAMES` or `GRADE_NAMES`; class indices when those are unreadable (an ImageNet
  build that is not on this machine)."""
  try:
    if hasattr(data, "class_names"):
      names = data.class_names(data_config)
    else:
      names = getattr(data, "CLASS_NAMES", None) or getattr(data, "GRADE_NAMES", None)
  except (OSError, ValueError) as e:
    return [str(i) for i in range(count)], f"class indices ({e})"
  if names is None or len(names) != count:
    return [str(i) for i in range(count)], "class indices"
  return list(names), "the data's class names"


def _ensemble_paths(ensemble):
  if isinstance(ensemble, str):
    ensemble = ensemble.split(",")
  return tuple(p.strip() for p in ensemble or () if p.strip())


class Predictor(predict_lib.Predictor):

  def __init__(self, workdir, checkpoint="latest"):
    super().__init__(workdir, checkpoint)
    self.names, self.names_from = class_names(self.data, self.config.data,
                                              self.task.num_classes)
    self.screen = self._screen()

  def _screen(self):
    """The run's first ROC evaluation: (positive_from, {point: threshold and its figures}),
    or None."""
    for name, e in self.config.evals.items():
      if e.type != "roc":
        continue
      points = {}
      roc_json = os.path.join(self.workdir, f"roc_{e.split}.json")
      if os.path.isfile(roc_json):
        with open(roc_json) as f:
          for point, p in json.load(f)["operating_points"].items():
            log_odds = p["threshold_log_odds"]
            points[point] = {"log_odds": np.inf if log_odds is None else log_odds,
                             "sensitivity": p["sensitivity"], "specificity": p["specificity"]}
      elif os.path.isfile(os.path.join(self.workdir, "results.json")):
        with open(os.path.join(self.workdir, "results.json")) as f:
          results = json.load(f)
        for point in ("high_sensitivity", "high_specificity"):
          if f"{name}/{point}/threshold" in results:
            t = results[f"{name}/{point}/threshold"]
            points[point] = {"log_odds": np.log(t) - np.log1p(-t) if t < 1 else np.inf,
                             "sensitivity": results[f"{name}/{point}/sensitivity"],
                             "specificity": results[f"{name}/{point}/specificity"]}
      return {"name": name, "split": e.split, "positive_from": e.positive_from,
              "points": points}
    return None

  def predict(self, inputs, crops=None, ensemble=()):
    """One row per readable image: top-5 classes and probabilities (and the screen's
    columns for a graded run); unreadable files are in `self.skipped`."""
    paths = self.input_files(inputs, IMAGE_EXTENSIONS)
    data_config = self.config.data.copy_and_resolve_references()
    if crops:
      data_config.eval_crops = crops
    preprocess = self.data.preprocess(data_config, train=False)
    members = Ensemble(_ensemble_paths(ensemble), self.task.predict_fn)
    self._members = members.paths
    first = self.screen and self.screen["positive_from"]

    def per_example(states, batch):
      logits = members.logits(states, batch)
      probs = jax.nn.softmax(logits.astype(jnp.float32))
      top_p, top_i = jax.lax.top_k(probs, min(TOP_K, probs.shape[-1]))
      out = {"top_p": top_p, "top_i": top_i}
      if first:
        out["log_odds"] = roc.positive_log_odds(logits, first)
        out["grade"] = jnp.argmax(logits, axis=-1)
      return out

    source = self.open_files(paths, read_image,
                             lambda record: self.data.validate(self.config.data, record))
    indices, out = self.run_batches(source, self.jit(per_example, ("top5", members.paths)),
                                    preprocess,
                                    state=members.states(self.state))
    self._shown = (paths, preprocess)
    rows = []
    for k in np.argsort(indices):
      row = {"path": paths[indices[k]]}
      if self.screen:
        row.update(self._screen_columns(int(out["grade"][k]), float(out["log_odds"][k])))
      for j, (i, p) in enumerate(zip(out["top_i"][k], out["top_p"][k])):
        row[f"class_{j + 1}"], row[f"p_{j + 1}"] = self.names[int(i)], round(float(p), 6)
      rows.append(row)
    return rows

  def _screen_columns(self, grade: int, log_odds: float) -> dict:
    row = {"p_positive": round(float(1 / (1 + np.exp(-log_odds))), 6), "log_odds": log_odds,
           "grade": grade, "grade_name": self.names[grade]}
    for point, p in self.screen["points"].items():
      row[f"refer_{point}"] = bool(log_odds >= p["log_odds"])
    return row

  def write(self, out_dir: str, rows) -> list:
    os.makedirs(out_dir, exist_ok=True)
    table = os.path.join(out_dir, "predictions.csv")
    predict_lib.write_table(table, rows)
    picture = os.path.join(out_dir, "predictions.png")
    self._picture(picture, rows[:_PICTURES])
    summary = os.path.join(out_dir, "summary.md")
    with open(summary, "w") as f:
      f.write(self._summary(rows))
    return [table, summary, picture]

  def _picture(self, path, rows):
    paths, preprocess = self._shown
    images = []
    for row in rows:
      image = preprocess(read_image(row["path"]), np.random.default_rng(0))["image"]
      images.append(image[4] if image.ndim == 4 else image)  # of ten crops, the centre
    if self.screen:
      captions = [f"{os.path.basename(r['path'])}\nP(+)={r['p_positive']:.3f} "
                  f"grade {r['grade_name']}" for r in rows]
    else:
      captions = [f"{os.path.basename(r['path'])}\n{r['class_1']} {r['p_1']:.3f}" for r in rows]
    del paths
    predict_lib.contact_sheet(path, images, captions)

  def _summary(self, rows) -> str:
    text = ["# Predictions\n", self.summary_header(),
            f"{len(rows)} images; classes: {self.names_from}"
            + (f"; predicted distributions averaged with {', '.join(self._members)}"
               if self._members else "") + ".\n"]
    if self.screen:
      s = self.screen
      text.append(f"\nScreen: positive = class >= {s['positive_from']} "
                  f"({self.names[s['positive_from']]} or worse); operating points chosen by "
                  f"the run's ROC evaluation '{s['name']}', figures on its split '{s['split']}':\n")
      for point, p in s["points"].items():
        refer = sum(r[f"refer_{point}"] for r in rows)
        text.append(f"- {point}: P(+) >= {1 / (1 + np.exp(-p['log_odds'])):.4f}, sensitivity "
                    f"{p['sensitivity']:.1%}, specificity {p['specificity']:.1%}: "
                    f"{refer} of {len(rows)} referred")
      text.append("")
    columns = ["path"] + (["p_positive", "grade_name"] + [f"refer_{p}" for p in
                                                         self.screen["points"]]
                          if self.screen else []) + ["class_1", "p_1", "class_2", "p_2"]
    text += ["", predict_lib.markdown_table(rows, columns), self.skipped_markdown()]
    return "\n".join(text)
