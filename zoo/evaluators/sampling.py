"""What the GAN evaluators share: generated samples from fixed noise through a task's
`predict_fn`, real examples of a split in the generator's space, and conversion to uint8."""
import jax
import jax.numpy as jnp
import numpy as np

from zoo.data import pipeline
from zoo.evaluators import over_rows
from zoo.models import conv
from zoo.tasks import adversarial


class Sampler:
  """`sampler(state, noise, labels)` -> host samples [N, ...], in global batches of
  `config.eval_batch_size`, each process generating its share (`over_rows`)."""

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
    out = over_rows(self, lambda batch: self._predict(state, batch),
                    {"noise": noise, "label": labels})
    return np.asarray(out, np.float32)


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
