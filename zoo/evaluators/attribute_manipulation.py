"""Measures of facial attribute manipulation (Wang et al., WACV 2018), for the
`attribute_manipulation` task: held-out faces lacking the attribute are the sources, each
edited with `num_references` held-out faces that have it.

- Success rate: the share of targets that a SEPARATELY trained attribute classifier (the
  `face_attribute_classifier` run in `judge`, by default the `judge` stage of
  `face_attributes`: another seed, data order and width than the perceptual network the
  generator was trained against; '' judges with that network itself) reads as having the
  attribute, beside the rate on the unedited sources (`floor`) and on real faces with the
  attribute (`ceiling`). `perceptual_network_success_rate` (when the perceptual network
  is the classifier, not a VGG): the rate it reads (a generator that fools only the network it was trained against scores
  high here and low by the judge).
- Content preservation: the perceptual distance between source and target (in the
  judge's blocks, as the task's content loss is in the perceptual network's), and `unchanged_share`: over sources and non-target attributes (for a
  hair colour, the other binary attributes), the share the judge reads on the target as
  the source's true value (exact on the stand-in, labels on CelebA).
- Realism: Fréchet distance (`zoo.evaluators.frechet`) of the targets against real faces
  with the attribute, in the judge's pooled features, with the real-vs-real floor (two
  halves of those faces).
- On the stand-in (`data.name='faces'`) the true edit is known: `render(face.edit(A=1))`;
  every measure is also given for it (what a perfect manipulation scores with this judge),
  and the mean pixel error of the targets against it beside that of the unedited source.
- Pictures: `triplets_ATTR.png`, one row per source: source | reference | target | mask
  (| true edit on the stand-in), and `localisation_ATTR.png`: reference and target, each
  beside the attribute discriminator's map over it (red: "the attribute is here").

Config (`config.evals.NAME`, `type='attribute_manipulation'`): `split`, `num_sources`,
`judge`, `seed`, `grid_rows`. Writes `attribute_manipulation.json` too.
"""
import json
import os

import jax
import numpy as np
from absl import logging
from PIL import Image

from zoo.data import pipeline
from zoo.evaluators import frechet, over_rows
from zoo.evaluators.samples import grid
from zoo.evaluators.sampling import to_uint8
from zoo.models import conv
from zoo.tasks.attribute_manipulation import FrozenClassifier, perceptual_distance


def _batched(fn, x, size=500):
  outs = [fn(x[i:i + size]) for i in range(0, len(x), size)]
  return jax.tree.map(lambda *a: np.concatenate([np.asarray(v) for v in a]), *outs)


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    c = self.eval_config = eval_config
    m = config.manipulation
    self.config, self.to_device = config, to_device
    self.process_index, self.process_count = process_index, process_count
    self.attribute, self.layers = m.attribute, m.perceptual_layers
    self._predict = jax.jit(predict_fn, compiler_options=conv.compiler_options(
        config.get("cpu_convolutions")))
    self.judge = FrozenClassifier(c.get("judge") or m.classifier, config.data)
    self.phi = FrozenClassifier(m.classifier, config.data)
    self.phi_is_classifier = not m.get("perceptual", "")  # else an ImageNet VGG
    if self.phi_is_classifier and os.path.abspath(self.judge.path) == os.path.abspath(
        self.phi.path):
      logging.warning("%s: judged by the perceptual network the generator is trained against "
                      "(--config.evals.%s.judge=%r): not an independent measure", name, name,
                      c.get("judge"))
    self._judge = jax.jit(lambda x: (self.judge.logits(x), self.judge.features(x)["pooled"]))
    self._phi_logits = jax.jit(self.phi.logits)
    self._distance = jax.jit(lambda a, b: perceptual_distance(
        self.judge.features(a), self.judge.features(b), self.layers))
    names = self.judge.attributes
    self.index = names.index(self.attribute)
    hair = [i for i, n in enumerate(names) if n.endswith("_Hair")]
    self.others = [i for i in range(len(names)) if i != self.index
                   and not (self.index in hair and i in hair)]

    source = pipeline.open_source(config.data, c.split, train=False)
    preprocess = pipeline.data_module(config.data).preprocess(config.data, train=False)
    indices, images, attributes = [], [], []
    for i in range(len(source)):
      record = source[i]
      if record is not None:
        record = preprocess(record, None)
        indices.append(i)
        images.append(record["image"])
        attributes.append(record["attributes"])
    images = np.stack(images).astype(np.float32) / 127.5 - 1.0
    attributes, indices = np.stack(attributes), np.asarray(indices)
    has = attributes[:, self.index] > 0
    if has.sum() < 4 or (~has).sum() < 1:
      raise ValueError(f"type='attribute_manipulation': split '{c.split}' holds {has.sum()} "
                       f"faces with {self.attribute} and {(~has).sum()} without; need 4 and 1")
    rows = np.flatnonzero(~has)[:c.num_sources]
    self.sources, self.source_attributes = images[rows], attributes[rows]
    self.positives = images[has]
    rng = np.random.default_rng(c.seed)
    picks = rng.integers(0, len(self.positives), (len(rows), m.num_references))
    self.references = self.positives[picks]
    # The floor, the ceiling and the Fréchet reference: real faces, judged once.
    self.floor = float(np.mean(self._verdict(self.sources)[:, self.index]))
    self.ceiling = float(np.mean(self._verdict(self.positives)[:, self.index]))
    features = _batched(self._judge, self.positives)[1]
    self.real_stats = frechet.statistics(features[0::2])
    self.fd_floor = frechet.frechet_distance(*frechet.statistics(features[1::2]),
                                             *self.real_stats)
    self.true_edits = None
    if config.data.name == "faces":
      from zoo.data import faces  # pylint: disable=import-outside-toplevel
      edited = [faces.render(faces.face(config.data.seed, c.split, int(i)).edit(
          **{self.attribute: 1}), config.data.image_size) for i in indices[rows]]
      self.true_edits = np.stack(edited).astype(np.float32) / 127.5 - 1.0

  def _verdict(self, x):
    return _batched(self._judge, x)[0] > 0

  def _generate(self, state):
    return over_rows(self, lambda batch: self._predict(state, batch),
                     {"source": self.sources, "references": self.references})

  def _scores(self, edited, prefix):
    """Success, unchanged share, perceptual distance and Fréchet distance of `edited`."""
    verdict = self._verdict(edited)
    truth = self.source_attributes > 0
    fd = frechet.frechet_distance(*frechet.statistics(_batched(self._judge, edited)[1]),
                                  *self.real_stats)
    return {f"{prefix}success_rate": float(np.mean(verdict[:, self.index])),
            f"{prefix}unchanged_share": float(np.mean(verdict[:, self.others]
                                                      == truth[:, self.others])),
            f"{prefix}perceptual_distance": float(np.mean(_batched(
                lambda i: self._distance(edited[i], self.sources[i]), np.arange(len(edited))))),
            f"{prefix}fd": fd}

  def run(self, state, workdir=None) -> dict:
    out = self._generate(state)
    metrics = {**self._scores(out["target"], ""), "success_floor": self.floor,
               "success_ceiling": self.ceiling, "fd_floor": self.fd_floor,
               "source_unchanged_share": float(np.mean(
                   self._verdict(self.sources)[:, self.others]
                   == (self.source_attributes[:, self.others] > 0))),
               "num_sources": len(self.sources)}
    if self.phi_is_classifier:
      phi_verdict = _batched(self._phi_logits, out["target"])[:, self.index] > 0
      metrics["perceptual_network_success_rate"] = float(np.mean(phi_verdict))
    if self.true_edits is not None:
      metrics.update(self._scores(self.true_edits, "true_edit_"))
      metrics["pixel_error"] = float(np.mean(np.abs(out["target"] - self.true_edits)))
      metrics["pixel_error_unedited"] = float(np.mean(np.abs(self.sources - self.true_edits)))
    logging.info("%s: success %.3f (floor %.3f, ceiling %.3f), non-target attributes "
                 "unchanged %.3f, Fréchet %.4g (floor %.4g)", self.attribute,
                 metrics["success_rate"], self.floor, self.ceiling,
                 metrics["unchanged_share"], metrics["fd"], self.fd_floor)
    if workdir and self.process_index == 0:
      self._pictures(out, workdir, int(jax.device_get(state.step)))
      with open(os.path.join(workdir, "attribute_manipulation.json"), "w") as f:
        json.dump({**metrics, "attribute": self.attribute, "judge": self.judge.path,
                   "perceptual_features": (self.config.manipulation.get("perceptual")
                                           or self.phi.path),
                   "split": self.eval_config.split, "step": int(jax.device_get(state.step))},
                  f, indent=1)
    return metrics

  def _pictures(self, out, workdir, step):
    n = min(self.eval_config.grid_rows, len(self.sources))
    mask = np.repeat(out["mask"][:n, ..., None], 3, -1) * 2 - 1
    columns = [self.sources[:n], self.references[:n, 0], out["target"][:n], mask]
    if self.true_edits is not None:
      columns.append(self.true_edits[:n])
    tiles = np.stack(columns, 1).reshape((-1,) + self.sources.shape[1:])
    scale = max(1, 128 // self.sources.shape[1])
    Image.fromarray(grid(to_uint8(tiles), n, len(columns), scale)).save(
        os.path.join(workdir, f"triplets_{self.attribute}.png"))
    tiles = np.stack([self.references[:n, 0], _overlay(self.references[:n, 0],
                                                       out["reference_map"][:n]),
                      out["target"][:n], _overlay(out["target"][:n], out["target_map"][:n])], 1)
    Image.fromarray(grid(to_uint8(tiles.reshape((-1,) + self.sources.shape[1:])), n, 4,
                         scale)).save(os.path.join(workdir, f"localisation_{self.attribute}.png"))
    del step


def _overlay(images, maps):
  """Images (greyed) under the attribute discriminator's map in red: each map is scaled
  to [0, 1] within its image (where the evidence is, not how much) and upsampled."""
  lo = maps.min(axis=(1, 2), keepdims=True)
  hi = maps.max(axis=(1, 2), keepdims=True)
  heat = (maps - lo) / np.maximum(hi - lo, 1e-6)
  factor = images.shape[1] // maps.shape[1]
  heat = heat.repeat(factor, 1).repeat(factor, 2)[..., None]
  grey = images.mean(-1, keepdims=True).repeat(3, -1) * 0.5
  red = np.asarray([1.0, -1.0, -1.0])
  return grey * (1 - heat) + red * heat
