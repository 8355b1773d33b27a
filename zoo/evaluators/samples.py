"""Sample grids of a generator (PNG) from the same fixed noise at every evaluation, so a
run's progress can be seen picture by picture.

Built from an entry of `config.evals` (`type='samples'`, `rows`, `cols`, `seed`, `scale`:
pixels per sample pixel). A class-conditional generator gets one row per class (the
columns share their noise across rows, so a column is one "style" in every class).
Writes `samples_STEP.png` (STEP zero-padded) and `samples.png` (the newest) into the
workdir; returns no metrics.
"""
import os

import jax
import numpy as np
from PIL import Image

from zoo.evaluators import sampling


def grid(images: np.ndarray, rows: int, cols: int, scale: int = 1, gap: int = 1) -> np.ndarray:
  """uint8 [rows * cols, H, W, C] -> one RGB picture, `gap` white pixels between samples."""
  n, h, w, c = images.shape
  if c == 1:
    images = np.repeat(images, 3, axis=-1)
  if scale > 1:
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = h * scale, w * scale
  out = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 255, np.uint8)
  for i in range(min(n, rows * cols)):
    r, col = divmod(i, cols)
    top, left = gap + r * (h + gap), gap + col * (w + gap)
    out[top:top + h, left:left + w] = images[i]
  return out


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.process_index = eval_config, process_index
    self.sampler = sampling.Sampler(config, predict_fn, to_device, process_index,
                                    process_count)
    c = eval_config
    self.rows = self.sampler.num_classes or c.rows
    columns = self.sampler.noise(c.seed, c.cols)
    if self.sampler.num_classes:  # row r is class r, column j the same noise in every row
      self.noise = np.tile(columns, (self.rows, 1))
      self.labels = np.repeat(np.arange(self.rows, dtype=np.int32), c.cols)
    else:
      self.noise = self.sampler.noise(c.seed, self.rows * c.cols)
      self.labels = self.sampler.labels(c.seed, len(self.noise))

  def run(self, state, workdir=None) -> dict:
    samples = self.sampler(state, self.noise, self.labels)
    if samples.ndim != 4:
      raise ValueError(f"type='samples' draws images; the generator makes {samples.shape[1:]}"
                       " samples (use type='mixture' for points)")
    if workdir and self.process_index == 0:
      step = int(jax.device_get(state.step))
      picture = Image.fromarray(grid(sampling.to_uint8(samples), self.rows,
                                     self.eval_config.cols, self.eval_config.scale))
      picture.save(os.path.join(workdir, f"samples_{step:06d}.png"))
      picture.save(os.path.join(workdir, "samples.png"))
    return {}
