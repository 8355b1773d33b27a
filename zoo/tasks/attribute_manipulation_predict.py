"""A facial-attribute run on the user's faces: `source=IMG` (and any INPUTS, each a source
too) edited to have the attribute of `reference=[IMG, ...]` (the generator averages their
attribute codes, so any number works). Writes each edited face, the mask where the
generator painted, and one picture per source: source | references | result | mask,
with the run's judge's P(attribute) before and after (the attribute classifier its
evaluation used).

Faces are read as the training data was: the data module's evaluation `preprocess`
(CelebA: the central `crop_size` square of an aligned 178x218 face resized to
`image_size`; the stand-in: faces of exactly `image_size` pixels, as it draws them).
"""
import os

import jax
import numpy as np
from PIL import Image

from zoo import predict as predict_lib
from zoo.evaluators.samples import grid
from zoo.evaluators.sampling import to_uint8
from zoo.tasks.attribute_manipulation import FrozenClassifier
from zoo.tasks.classification_predict import IMAGE_EXTENSIONS


class Predictor(predict_lib.Predictor):

  def __init__(self, workdir, checkpoint="latest"):
    super().__init__(workdir, checkpoint)
    self.attribute = self.config.manipulation.attribute
    self.attributes = tuple(self.data.ATTRIBUTES)
    # The judge the run's evaluation used (its `judge`, else the manipulation's classifier).
    m = self.config.manipulation
    path = next((e.get("judge") for e in self.config.evals.values()
                 if e.type == "attribute_manipulation" and e.get("judge")), m.classifier)
    judge = FrozenClassifier(path, self.config.data)
    index = judge.attributes.index(self.attribute)
    self._judge = self.jit(lambda x: jax.nn.sigmoid(judge.logits(x)[:, index]))
    self.results = None

  def _read(self, path: str) -> dict:
    with Image.open(path) as image:
      pixels = np.asarray(image.convert("RGB"))
    # Attribute fields only satisfy the data's record format; nothing reads them.
    return {"image": pixels, "attributes": {name: False for name in self.attributes},
            "label": np.int32(0)}

  def _face(self, record, rng=None) -> np.ndarray:
    """A record -> the face in the generator's space, [-1, 1] float32 [S, S, 3]."""
    image = self.data.preprocess(self.config.data, train=False)(record, rng)["image"]
    return np.asarray(image, np.float32) / 127.5 - 1.0

  def predict(self, inputs=(), source=None, reference=()):
    """One row per source face: its file, the references, P(attribute) of the source and
    of the result by the run's classifier, the painted share; images in `self.results`."""
    if isinstance(reference, str):
      reference = reference.split(",")
    if not source and not inputs:
      raise predict_lib.PredictError("--source=IMG is required (the face to edit)")
    if not reference:
      raise predict_lib.PredictError("--reference=IMG[,IMG...] is required (faces with "
                                     f"the attribute '{self.attribute}')")
    validate = lambda record: self.data.validate(self.config.data, record)
    refs, skipped = [], []
    for path in reference:
      try:
        record = self._read(path)
        validate(record)
        refs.append(self._face(record))
      except Exception as e:  # pylint: disable=broad-except  # listed, like any bad input
        skipped.append((path, f"{type(e).__name__}: {e}"))
    if not refs:
      raise predict_lib.PredictError("no reference face could be read: " + "; ".join(
          f"{p}: {why}" for p, why in skipped))
    refs = np.stack(refs)
    paths = self.input_files(([source] if source else []) + list(inputs), IMAGE_EXTENSIONS)
    skipped += self.skipped

    def preprocess(record, rng):
      return {"source": self._face(record, rng), "references": refs}

    fn = self.jit(self.task.predict_fn, "predict")
    indices, out = self.run_batches(self.open_files(paths, self._read, validate), fn,
                                    preprocess)
    self.skipped = skipped + self.skipped
    order = np.argsort(indices)
    sources = np.stack([self._face(self._read(paths[i])) for i in indices[order]])
    targets, masks = out["target"][order], out["mask"][order]
    before, after = np.asarray(self._judge(sources)), np.asarray(self._judge(targets))
    self.results = {"sources": sources, "references": refs, "targets": targets,
                    "masks": masks}
    return [{"source": paths[i], "references": list(reference), "attribute": self.attribute,
             "p_attribute_source": round(float(b), 6), "p_attribute_result": round(float(a), 6),
             "painted_share": round(float(m.mean()), 6)}
            for i, b, a, m in zip(indices[order], before, after, masks)]

  def write(self, out_dir: str, rows) -> list:
    os.makedirs(out_dir, exist_ok=True)
    r = self.results
    files = []
    scale = max(1, 128 // r["sources"].shape[1])
    for k, row in enumerate(rows):
      stem = os.path.splitext(os.path.basename(row["source"]))[0]
      row["result"], row["mask"] = f"{stem}_edited.png", f"{stem}_mask.png"
      row["picture"] = f"{stem}_picture.png"
      Image.fromarray(to_uint8(r["targets"][k])).save(os.path.join(out_dir, row["result"]))
      Image.fromarray(to_uint8(r["masks"][k] * 2 - 1)).save(os.path.join(out_dir, row["mask"]))
      mask = np.repeat(r["masks"][k][..., None], 3, -1) * 2 - 1
      tiles = np.concatenate([r["sources"][k:k + 1], r["references"], r["targets"][k:k + 1],
                              mask[None]])
      Image.fromarray(grid(to_uint8(tiles), 1, len(tiles), scale)).save(
          os.path.join(out_dir, row["picture"]))
      files += [os.path.join(out_dir, row[key]) for key in ("result", "mask", "picture")]
    table = os.path.join(out_dir, "edits.csv")
    predict_lib.write_table(table, rows)
    summary = os.path.join(out_dir, "summary.md")
    with open(summary, "w") as f:
      f.write("\n".join([
          f"# Facial attribute: {self.attribute}\n", self.summary_header(),
          f"{len(rows)} faces edited with {len(r['references'])} reference(s); pictures: "
          "source | references | result | mask. P(attribute) by the run's attribute "
          "classifier.\n",
          predict_lib.markdown_table(rows, ["source", "p_attribute_source",
                                            "p_attribute_result", "painted_share", "picture"]),
          self.skipped_markdown()]))
    return [table, summary] + files
