"""A relative-aesthetics run on photographs: a score per photo, the photos ranked (and a
picture of the ranking), and for `pairs=['A:B', ...]` which of each pair is the better
with d (the relative head's f(C1 - C2); the binary head's score difference), the number
the ranking evaluation thresholds at 0.

Each photo gives the two views training used (`zoo.data.ava.preprocess`, evaluation
mode): the whole image resized to `data.image_size` and a central `data.local_size`
crop at native resolution.
"""
import os

import numpy as np

from zoo import predict as predict_lib
from zoo.tasks.classification_predict import IMAGE_EXTENSIONS, read_image

_PICTURES = 30  # photos in ranking.png


def parse_pairs(pairs) -> list:
  """'A:B' strings (or (A, B) tuples) -> [(A, B)]."""
  out = []
  for pair in pairs or ():
    parts = pair.split(":") if isinstance(pair, str) else list(pair)
    if len(parts) != 2 or not all(parts):
      raise predict_lib.PredictError(f"--pairs: '{pair}' is not A:B (two image files)")
    out.append(tuple(parts))
  return out


def _read_pair(pair: str) -> dict:
  a, b = pair.split("\n")
  first, second = read_image(a), read_image(b)
  return {"image1": first["image"], "image2": second["image"], "label": np.float32(0)}


class Predictor(predict_lib.Predictor):

  def predict(self, inputs, pairs=()):
    """Rows of the photos (`path`, `score`, `rank`, 1 = best) and, with `pairs`, of the
    pairs (`a`, `b`, `d`, `better`) after them, marked by `kind`."""
    pairs = parse_pairs(pairs)
    paths = self.input_files(inputs, IMAGE_EXTENSIONS) if inputs or not pairs else []
    skipped = list(self.skipped)
    preprocess = self.data.preprocess(self.config.data, train=False)
    validate = lambda record: self.data.validate(self.config.data, record)
    rows = []
    if paths:
      self.skipped = []
      indices, out = self.run_batches(self.open_files(paths, read_image, validate),
                                      self.jit(self.task.predict_fn, "predict"), preprocess)
      skipped += self.skipped
      order = np.argsort(-out["score"], kind="stable")
      rows += [{"kind": "photo", "path": paths[indices[k]], "score": float(out["score"][k]),
                "rank": rank + 1} for rank, k in enumerate(order)]
    if pairs:
      keys, self.skipped = ["\n".join(p) for p in pairs], []
      indices, out = self.run_batches(self.open_files(keys, _read_pair, validate),
                                      self.jit(self.task.predict_fn, "predict"), preprocess,
                                      desc="pairs")
      skipped += [(p.replace("\n", " : "), why) for p, why in self.skipped]
      for k in np.argsort(indices):
        a, b = pairs[indices[k]]
        d = float(out["d"][k])
        rows.append({"kind": "pair", "a": a, "b": b, "d": d, "better": a if d > 0 else b,
                     "score_a": float(out["score1"][k]), "score_b": float(out["score2"][k])})
    self.skipped = skipped
    return rows

  def write(self, out_dir: str, rows) -> list:
    os.makedirs(out_dir, exist_ok=True)
    photos = [r for r in rows if r["kind"] == "photo"]
    pairs = [r for r in rows if r["kind"] == "pair"]
    files = []
    if photos:
      files.append(os.path.join(out_dir, "scores.csv"))
      predict_lib.write_table(files[-1], [{k: v for k, v in r.items() if k != "kind"}
                                          for r in photos])
      files.append(os.path.join(out_dir, "ranking.png"))
      preprocess = self.data.preprocess(self.config.data, train=False)
      shown = photos[:_PICTURES]
      predict_lib.contact_sheet(
          files[-1], [preprocess(read_image(r["path"]), None)["image"] for r in shown],
          [f"#{r['rank']} {os.path.basename(r['path'])}\nscore {r['score']:+.3f}"
           for r in shown], title="photos ranked by predicted aesthetics, best first")
    if pairs:
      files.append(os.path.join(out_dir, "pairs.csv"))
      predict_lib.write_table(files[-1], [{k: v for k, v in r.items() if k != "kind"}
                                          for r in pairs])
    files.append(os.path.join(out_dir, "summary.md"))
    with open(files[-1], "w") as f:
      f.write("\n".join([
          "# Relative aesthetics\n", self.summary_header(),
          f"{len(photos)} photos ranked (score: higher is better), {len(pairs)} pairs "
          f"(d > 0: the first is better; head '{self.config.model.head}').\n",
          predict_lib.markdown_table(photos, ["rank", "path", "score"]) if photos else "",
          "\n" + predict_lib.markdown_table(pairs, ["a", "b", "d", "better"]) if pairs else "",
          self.skipped_markdown()]))
    return files
