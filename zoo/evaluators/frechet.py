"""Fréchet distance between real and generated samples in a feature space (Heusel et al.,
"GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium",
NeurIPS 2017: FID with Inception features), with its floor.

  d^2 = ||mu_r - mu_g||^2 + tr(S_r + S_g - 2 (S_r S_g)^(1/2))

of Gaussians fitted to the features. The held-out `split` is cut into two halves A (even
records) and B (odd); the metric is d(generated, A) with as many generated samples as A
holds, and `fd_floor` is d(B, A): what a perfect generator would score at this sample size
(the distance is biased upwards at small sizes), printed beside it.

Feature networks (`features`):
- 'raw': the samples themselves, flattened (the 2-D mixture's points);
- 'classifier': the penultimate layer (64 units) of a small CNN (on images averaged down to
  32x32 at most) that this module trains,
  at the start of the run, on the `train` split's labels (`classifier_target`: 'label',
  softmax, e.g. the digit; or 'attributes', one sigmoid each, e.g. the faces'), seeded,
  `classifier_steps` Adam steps of `classifier_batch`: deterministic, no download. Its
  accuracy on the held-out split is reported as `classifier_accuracy` (mean over
  attributes for 'attributes'), so a reader can judge the features.

Built from an entry of `config.evals` (`type='frechet'`, `split`, `features`, `seed`, and
the classifier fields). Returns `fd`, `fd_floor`, `num_samples`; writes `frechet.json`
(the feature network named, the figures).
"""
import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging

from zoo.evaluators import sampling


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
  """d^2 between N(mu1, sigma1) and N(mu2, sigma2); tr((S1 S2)^(1/2)) as the sum of square
  roots of the eigenvalues of S1^(1/2) S2 S1^(1/2) (symmetric, so no complex round-off)."""
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  values, vectors = np.linalg.eigh(sigma1)
  root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
  middle = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
  trace_root = np.sum(np.sqrt(np.clip(middle, 0, None)))
  return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def statistics(features):
  """(mean, covariance) of [N, ...] features, flattened per example."""
  features = np.asarray(features, np.float64).reshape(len(features), -1)
  dim = features.shape[1]
  return features.mean(0), np.cov(features, rowvar=False).reshape(dim, dim)


class FeatureNet(nn.Module):
  """Images averaged down to 32x32 at most (cheap on a CPU), stride-2 3x3 convolutions (32,
  64, 128 channels) down to 4x4 or less, then a 64-unit ReLU layer (the features) and a
  linear head."""
  outputs: int

  @nn.compact
  def __call__(self, x):
    while x.shape[1] > 32:
      x = nn.avg_pool(x, (2, 2), (2, 2))
    channels = (32, 64, 128, 128)
    i = 0
    while x.shape[1] > 4:
      x = nn.relu(nn.Conv(channels[min(i, 3)], (3, 3), strides=(2, 2))(x))
      i += 1
    features = nn.relu(nn.Dense(64)(x.reshape((x.shape[0], -1))))
    return features, nn.Dense(self.outputs)(features)


def train_classifier(images, targets, *, multi_label: bool, steps: int, batch: int, seed: int):
  """(params, net) of a FeatureNet fitted to `targets` (class ids, or 0/1 rows)."""
  outputs = targets.shape[1] if multi_label else int(targets.max()) + 1
  net = FeatureNet(outputs)
  params = net.init(jax.random.key(seed), jnp.zeros((1,) + images.shape[1:]))["params"]
  tx = optax.adam(1e-3)

  def loss_fn(p, x, y):
    logits = net.apply({"params": p}, x)[1]
    if multi_label:
      return optax.sigmoid_binary_cross_entropy(logits, y.astype(jnp.float32)).mean()
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  @jax.jit
  def step(p, opt_state, x, y):
    grads = jax.grad(loss_fn)(p, x, y)
    updates, opt_state = tx.update(grads, opt_state, p)
    return optax.apply_updates(p, updates), opt_state

  opt_state = tx.init(params)
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    rows = rng.integers(0, len(images), batch)
    params, opt_state = step(params, opt_state, images[rows], targets[rows])
  return params, net


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    c = self.eval_config = eval_config
    self.process_index = process_index
    self.classifier_accuracy = None
    self.sampler = sampling.Sampler(config, predict_fn, to_device, process_index,
                                    process_count)
    real, _ = sampling.real_examples(config, c.split)
    half_a, half_b = real[0::2], real[1::2]
    if len(half_b) < 2:
      raise ValueError(f"type='frechet': split '{c.split}' holds {len(real)} examples; "
                       "the Fréchet distance needs at least 4")
    self.noise = self.sampler.noise(c.seed, len(half_a))
    self.labels = self.sampler.labels(c.seed, len(half_a))
    if c.features == "raw":
      self.describe = "raw samples (no feature network)"
      self._features = lambda x: x.reshape(len(x), -1)
    elif c.features == "classifier":
      self._fit_classifier(config)
    else:
      raise ValueError(f"type='frechet': features='{c.features}': expected raw or classifier")
    self.stats_a = statistics(self._features(half_a))
    self.floor = frechet_distance(*statistics(self._features(half_b)), *self.stats_a)

  def _labelled(self, config, split, limit=None):
    target = self.eval_config.classifier_target
    examples, fields = sampling.real_examples(config, split, (target,))
    return examples[:limit or None], fields[target][:limit or None]  # 0: all

  def _fit_classifier(self, config):
    c = self.eval_config
    images, targets = self._labelled(config, config.data.train_split, c.classifier_examples)
    multi_label = c.classifier_target == "attributes"
    params, net = train_classifier(images, targets, multi_label=multi_label,
                                   steps=c.classifier_steps, batch=c.classifier_batch,
                                   seed=c.seed)
    apply = jax.jit(lambda x: net.apply({"params": params}, x))

    def features_and_logits(x):
      outs = [apply(x[i:i + 500]) for i in range(0, len(x), 500)]
      return (np.concatenate([np.asarray(o[0]) for o in outs]),
              np.concatenate([np.asarray(o[1]) for o in outs]))

    self._features = lambda x: features_and_logits(x)[0]
    test_images, test_targets = self._labelled(config, c.split)
    logits = features_and_logits(test_images)[1]
    predicted = (logits > 0) if multi_label else logits.argmax(-1)
    self.classifier_accuracy = float(np.mean(predicted == test_targets))
    self.describe = (f"64-d penultimate layer of a CNN trained here on '{config.data.name}' "
                     f"{config.data.train_split} {c.classifier_target} ({c.classifier_steps} "
                     f"steps of {c.classifier_batch}, seed {c.seed}); held-out accuracy "
                     f"{self.classifier_accuracy:.3f}")
    logging.info("Fréchet features: %s", self.describe)

  def run(self, state, workdir=None) -> dict:
    generated = self.sampler(state, self.noise, self.labels)
    fd = frechet_distance(*statistics(self._features(generated)), *self.stats_a)
    metrics = {"fd": fd, "fd_floor": self.floor, "num_samples": len(generated)}
    if self.classifier_accuracy is not None:
      metrics["classifier_accuracy"] = self.classifier_accuracy
    logging.info("Fréchet distance %.4g (real-vs-real floor %.4g), features: %s",
                 fd, self.floor, self.describe)
    if workdir and self.process_index == 0:
      with open(os.path.join(workdir, "frechet.json"), "w") as f:
        json.dump({**metrics, "features": self.describe, "split": self.eval_config.split,
                   "step": int(jax.device_get(state.step))}, f, indent=1)
    return metrics
