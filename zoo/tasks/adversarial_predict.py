"""A GAN run's generator sampled: `num` samples as PNG files and a grid, `label=K` for a
class-conditional run, `interpolate=True` for walks between noise vectors (Radford et
al. 2016, Fig. 4: `num` rows, each from one random noise vector to another in
`WALK_STEPS` equal steps, linear in the noise space). Noise comes from `seed`, drawn as
the evaluators draw it (`zoo.evaluators.sampling.Sampler`), so `num=rows*cols` with a
`samples` evaluation's seed redraws its grid. A run on 2-D points (the mixtures) writes
the points and a scatter plot instead.
"""
import os

import numpy as np
from PIL import Image

from zoo import predict as predict_lib
from zoo.evaluators import sampling, samples as samples_lib

WALK_STEPS = 10


class Predictor(predict_lib.Predictor):

  def __init__(self, workdir, checkpoint="latest"):
    super().__init__(workdir, checkpoint)
    config = self.config.copy_and_resolve_references()  # batches that fit these devices
    config.eval_batch_size = self.batch_size(config.eval_batch_size)
    self.sampler = sampling.Sampler(config, self.task.predict_fn, self.to_device)
    self.samples, self.walk = None, False

  def predict(self, inputs=(), num=16, label=None, interpolate=False, seed=0):
    """Rows (`sample`, `label`, and for walks `walk`, `t`); the samples are in
    `self.samples` (uint8 images or float points)."""
    if inputs:
      raise predict_lib.PredictError(f"a GAN takes no input files (got {inputs[0]}); "
                                     "--num, --label, --interpolate, --seed say what to draw")
    n_classes = self.sampler.num_classes
    if label is not None and not n_classes:
      raise predict_lib.PredictError(f"--label={label}: this run's generator is not "
                                     "class-conditional")
    if label is not None and not 0 <= label < n_classes:
      raise predict_lib.PredictError(f"--label={label}: the run's classes are 0-{n_classes - 1}")
    if num < 1:
      raise predict_lib.PredictError(f"--num={num}: draw at least one sample")
    self.skipped, self.walk = [], bool(interpolate)
    if interpolate:
      ends = self.sampler.noise(seed, 2 * num).reshape(num, 2, -1)
      t = np.linspace(0, 1, WALK_STEPS)[None, :, None]
      noise = ((1 - t) * ends[:, :1] + t * ends[:, 1:]).reshape(num * WALK_STEPS, -1)
      labels = np.repeat(self.sampler.labels(seed, num), WALK_STEPS)
    else:
      noise, labels = self.sampler.noise(seed, num), self.sampler.labels(seed, num)
    if label is not None:
      labels = np.full(len(noise), label, np.int32)
    out = self.sampler(self.state, noise.astype(np.float32), labels)
    self.samples = sampling.to_uint8(out) if out.ndim == 4 else out
    rows = []
    for i in range(len(noise)):
      row = {"sample": i, "label": int(labels[i]) if n_classes else ""}
      if interpolate:
        row.update(walk=i // WALK_STEPS, t=round(float(t.ravel()[i % WALK_STEPS]), 4))
      if self.samples.ndim == 2:
        row.update({f"x{j}": float(v) for j, v in enumerate(self.samples[i])})
      rows.append(row)
    return rows

  def write(self, out_dir: str, rows) -> list:
    os.makedirs(out_dir, exist_ok=True)
    table = os.path.join(out_dir, "samples.csv")
    files = [table]
    if self.samples.ndim == 4:
      folder = os.path.join(out_dir, "samples")
      os.makedirs(folder, exist_ok=True)
      for row, image in zip(rows, self.samples):
        row["file"] = os.path.join("samples", f"sample_{row['sample']:04d}.png")
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
            os.path.join(out_dir, row["file"]))
      n = len(self.samples)
      cols = WALK_STEPS if self.walk else int(np.ceil(np.sqrt(n)))
      rows_ = int(np.ceil(n / cols))
      scale = max(1, 256 // (cols * self.samples.shape[2]))
      files.append(os.path.join(out_dir, "grid.png"))
      Image.fromarray(samples_lib.grid(self.samples, rows_, cols, scale)).save(files[-1])
      files.append(folder)
    else:
      from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
      fig = Figure(figsize=(5, 5), dpi=100)
      ax = fig.subplots()
      ax.scatter(self.samples[:, 0], self.samples[:, 1], s=4)
      ax.set_aspect("equal")
      files.append(os.path.join(out_dir, "samples.png"))
      fig.savefig(files[-1])
    predict_lib.write_table(table, rows)
    files.append(os.path.join(out_dir, "summary.md"))
    with open(files[-1], "w") as f:
      what = (f"{len(rows) // WALK_STEPS} walks of {WALK_STEPS} steps between noise vectors"
              if self.walk else f"{len(rows)} samples")
      f.write(f"# Generator samples\n\n{self.summary_header()}\n{what}"
              + (", one walk per row of grid.png" if self.walk else "") + ".\n")
    return files
