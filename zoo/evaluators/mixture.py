"""Mode coverage of a generator on a 2-D mixture of Gaussians (`zoo.data.gaussian_mixture`),
the measure of Srivastava et al. (VEEGAN, NeurIPS 2017) and Lin et al. (PacGAN, NeurIPS
2018): `num_samples` samples from fixed noise; a sample is high quality when it lies
within 3 standard deviations of the nearest mode's centre; a mode is covered when at least
`min_count` high-quality samples fall on it (PacGAN: 20 of 2,500 for the grid of 25).

Built from an entry of `config.evals` (`type='mixture'`, `num_samples`, `min_count`,
`seed`). Returns `modes_covered`, `num_modes`, `high_quality` (the share of high-quality
samples); writes `mixture_STEP.png` and `mixture.png` (the newest): the samples over the
modes' 3-standard-deviation circles, covered modes green, missed ones red.
"""
import os

import jax
import numpy as np
from matplotlib.figure import Figure  # not pyplot: no global backend or state

from zoo.data import gaussian_mixture
from zoo.evaluators import sampling


def coverage(samples, centres, std: float):
  """(per-mode counts of high-quality samples, high-quality mask) of [N, 2] samples."""
  distances = np.linalg.norm(samples[:, None, :] - centres[None], axis=-1)
  nearest = distances.argmin(1)
  good = distances[np.arange(len(samples)), nearest] <= 3 * std
  return np.bincount(nearest[good], minlength=len(centres)), good


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    if config.data.name != "gaussian_mixture":
      raise ValueError(f"type='mixture' evaluates 2-D mixtures; the data is "
                       f"'{config.data.name}'")
    self.eval_config, self.process_index = eval_config, process_index
    self.centres, self.std = gaussian_mixture.modes(config.data)
    self.sampler = sampling.Sampler(config, predict_fn, to_device, process_index,
                                    process_count)
    self.noise = self.sampler.noise(eval_config.seed, eval_config.num_samples)
    self.labels = self.sampler.labels(eval_config.seed, eval_config.num_samples)

  def run(self, state, workdir=None) -> dict:
    c = self.eval_config
    samples = self.sampler(state, self.noise, self.labels)
    counts, good = coverage(samples, self.centres, self.std)
    covered = counts >= c.min_count
    metrics = {"modes_covered": int(covered.sum()), "num_modes": len(self.centres),
               "high_quality": float(good.mean())}
    if workdir and self.process_index == 0:
      step = int(jax.device_get(state.step))
      for name in (f"mixture_{step:06d}.png", "mixture.png"):
        self._plot(os.path.join(workdir, name), samples, covered, metrics, step)
    return metrics

  def _plot(self, path, samples, covered, metrics, step):
    fig = Figure(figsize=(5, 5), dpi=100)
    ax = fig.subplots()
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, color="tab:blue", lw=0)
    for centre, hit in zip(self.centres, covered):
      ax.add_patch(_circle(centre, 3 * self.std, "tab:green" if hit else "tab:red"))
      ax.plot(*centre, "+", color="tab:green" if hit else "tab:red", ms=6)
    extent = np.abs(self.centres).max() + 1.0
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal",
           title=f"step {step}: {metrics['modes_covered']}/{metrics['num_modes']} modes, "
                 f"{metrics['high_quality']:.0%} high quality")
    fig.savefig(path)


def _circle(centre, radius, colour):
  from matplotlib.patches import Circle  # pylint: disable=import-outside-toplevel
  return Circle(centre, radius, fill=False, color=colour, lw=1)
