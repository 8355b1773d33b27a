"""What the GAN evaluators share: generated samples from fixed noise through a task's
`predict_fn`, real examples of a split in the generator's space, and conversion to uint8."""
import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from zoo.data import pipeline
from zoo.models import conv
from zoo.tasks import adversarial


class Sampler:
  """`sampler(state, noise, labels)` -> host samples [N, ...], in global batches of
  `config.eval_batch_size` sharded like every batch (padded, then trimmed)."""

  def __init__(self, config, predict_fn, to_device, process_index=0, process_count=1):
    self.config, self.to_device = config, to_device
    self.process_index, self.process_count = process_index, process_count
    data = pipeline.data_module(config.data)
    self.num_classes = pipeline.num_classes(data, config.data) if config.gan.conditional else 0
    self._predict = jax.jit(lambda state, batch: predict_fn(state, batch)["samples"],
                            compiler_options=conv.compiler_options(
                                config.get("cpu_convolutions")))

  def noise(self, seed: int, n: int) -> np.ndarray:
    return np.array(adversarial.sample_noise(self.config.gan, jax.random.key(seed), n))

  def labels(self, seed: int, n: int) -> np.ndarray:
    """Uniformly drawn classes for a conditional generator (zeros, unused, otherwise)."""
    if not self.num_classes:
      return np.zeros(n, np.int32)
    return np.random.default_rng(seed).integers(0, self.num_classes, n).astype(np.int32)

  def __call__(self, state, noise: np.ndarray, labels: np.ndarray) -> np.ndarray:
    size, n = self.config.eval_batch_size, len(noise)
    local = size // self.process_count
    rows = slice(self.process_index * local, (self.process_index + 1) * local)
    out = []
    for start in range(0, n, size):
      z, y = noise[start:start + size], labels[start:start + size]
      pad = size - len(z)
      z = np.concatenate([z, np.zeros((pad,) + z.shape[1:], z.dtype)])
      y = np.concatenate([y, np.zeros(pad, y.dtype)])
      samples = self._predict(state, self.to_device({"noise": z[rows], "label": y[rows]}))
      if self.process_count > 1:
        samples = multihost_utils.process_allgather(samples, tiled=True)
      out.append(np.asarray(jax.device_get(samples), np.float32)[:size - pad])
    return np.concatenate(out)


def real_examples(config, split: str, fields=()):
  """(examples in the generator's space ([-1, 1] for images), {field: stacked values}) of
  every good record of `split`, read on the host."""
  source = pipeline.open_source(config.data, split, train=False)
  preprocess = pipeline.data_module(config.data).preprocess(config.data, train=False)
  records = [preprocess(r, None) for r in (source[i] for i in range(len(source)))
             if r is not None]
  examples = np.stack([np.asarray(r[config.gan.data_key]) for r in records])
  examples = np.asarray(adversarial.to_model_space(jnp.asarray(examples)))
  return examples, {f: np.stack([np.asarray(r[f]) for r in records]) for f in fields}


def to_uint8(samples: np.ndarray) -> np.ndarray:
  """[-1, 1] -> 0-255."""
  return np.clip(np.round((samples + 1) * 127.5), 0, 255).astype(np.uint8)
