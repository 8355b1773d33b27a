"""Adversarial training: a generator and a discriminator, two optimizers, one train state
(Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014, Algorithm 1).

One `train_step` is one iteration of the paper's algorithm: k discriminator updates, each
on its own minibatch of m data examples and m fresh noise samples, then one generator
update on m fresh noise samples. The batch the loop hands over carries the k data
minibatches: `config.batch_size` = k * m examples, k = `config.gan.d_steps`; minibatch j
is rows j, j + k, j + 2k, ... (so each device holds an equal share of every minibatch).
The state counts the updates of each network (`d_updates`, `g_updates`).

Config (`config.gan`): `loss` (see `zoo.tasks.gan_losses`: saturating | non_saturating
(default) | least_squares | wgan_gp | hinge), `d_steps` (k), `latent_dim`, `noise`
(normal | uniform in [-1, 1]), `conditional` (class-conditional G and D, classes of the
data), `gp_weight` (WGAN-GP's lambda), `ema_decay` (0: off; else evaluation samples from
an exponential moving average of the generator's weights and batch-norm statistics,
warmed up as `optimizers.ema_decay_at` says; Karras et al. 2018 / Yazici et al. 2019),
`data_key` (the batch field holding the data: 'image' (uint8, scaled to
[-1, 1]) or 'point' (float, as is)). `config.model.name` names a module of `zoo.models`
with `networks(model_config, output_shape=, num_classes=) -> (Generator, Discriminator)`;
the data module gives `example_shape(data_config)`. Both networks use `config.optimizer`
and `config.schedule`, each with its own optimizer state.

`predict_fn(state, {'noise': [N, latent_dim], 'label': [N]})` -> {'samples': G's output
in data space ([-1, 1] for images)}, from the averaged weights when EMA is on.
"""
import importlib
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from zoo.data import pipeline
from zoo.tasks import gan_losses, optimizers
from zoo.tasks.sharding import along_data

NETWORKS = ("generator", "discriminator")


@flax.struct.dataclass
class AdversarialState:
  step: jax.Array  # iterations: one generator update each
  params: Any  # {'generator': ..., 'discriminator': ...}
  model_state: Any  # {'generator': {'batch_stats': ...} or {}, 'discriminator': ...}
  opt_state: Any  # {'generator': ..., 'discriminator': ...}: one optimizer state each
  generator_ema: Any  # averaged generator weights; None when config.gan.ema_decay == 0
  d_updates: jax.Array  # discriminator updates so far: k per iteration
  g_updates: jax.Array  # generator updates so far: one per iteration
  # G's batch-norm statistics averaged alongside its weights ({} without batch norm).
  generator_ema_state: Any = None


def sample_noise(gan_config, key, n: int):
  """The generator's input: N(0, I) or U[-1, 1]^latent_dim (Goodfellow et al., DCGAN)."""
  shape = (n, gan_config.latent_dim)
  if gan_config.noise == "normal":
    return jax.random.normal(key, shape)
  if gan_config.noise == "uniform":
    return jax.random.uniform(key, shape, minval=-1.0, maxval=1.0)
  raise ValueError(f"--config.gan.noise='{gan_config.noise}': expected normal or uniform")


def to_model_space(x):
  """uint8 images -> [-1, 1] (the generator's tanh range); other data as it is."""
  if x.dtype == jnp.uint8:
    return x.astype(jnp.float32) / 127.5 - 1.0
  return x.astype(jnp.float32)


class _GeneratorThenDiscriminator(nn.Module):
  """D(G(z)): one module holding both networks, so `--describe` lists their layers."""
  generator: nn.Module
  discriminator: nn.Module
  num_classes: int = 0

  def __call__(self, z, train: bool = False):
    return self.discriminator(self.generator(z, None, train=train), None, train=train)


def describe_inputs(config):
  """(both networks as one model, a noise vector) for `--describe`, without data."""
  shape = tuple(pipeline.data_module(config.data).example_shape(config.data))
  module = importlib.import_module(f"zoo.models.{config.model.name}")
  generator, discriminator = module.networks(config.model, output_shape=shape, num_classes=0)
  return (_GeneratorThenDiscriminator(generator, discriminator),
          (jax.ShapeDtypeStruct((1, config.gan.latent_dim), jnp.float32),))


class Task:
  """GAN training. Methods are pure functions of their arguments and the config."""

  def __init__(self, config, *, data, steps_per_epoch: int, total_steps: int):
    self.config, g = config, config.gan
    gan_losses.check(g.loss)
    sample_noise(g, jax.random.key(0), 1)  # checks the noise's name
    self.k = g.d_steps
    if self.k < 1 or config.batch_size % self.k:
      raise ValueError(f"--config.batch_size={config.batch_size} must be k * m for "
                       f"--config.gan.d_steps={g.d_steps} (k minibatches of m per iteration)")
    self.m = config.batch_size // self.k
    self.num_classes = pipeline.num_classes(data, config.data) if g.conditional else 0
    self.example_shape = tuple(data.example_shape(config.data))
    module = importlib.import_module(f"zoo.models.{config.model.name}")
    self.generator, self.discriminator = module.networks(
        config.model, output_shape=self.example_shape, num_classes=self.num_classes)
    self.tx, self.schedule = optimizers.make_optimizer(config, steps_per_epoch, total_steps)

  def _labels(self, key, n):
    if not self.num_classes:
      return None
    return along_data(jax.random.randint(key, (n,), 0, self.num_classes))

  def _noise(self, key):
    """m noise vectors, split along `data` like the real minibatch: each device generates
    (and D judges) its share of the samples."""
    return along_data(sample_noise(self.config.gan, key, self.m))

  def init(self, rng) -> AdversarialState:
    g_key, d_key = jax.random.split(rng)
    z = sample_noise(self.config.gan, g_key, 2)
    labels = jnp.zeros((2,), jnp.int32) if self.num_classes else None
    g_vars = dict(self.generator.init(g_key, z, labels, train=True))
    d_vars = dict(self.discriminator.init(d_key, jnp.zeros((2,) + self.example_shape),
                                          labels, train=True))
    params = {"generator": g_vars.pop("params"), "discriminator": d_vars.pop("params")}
    if self.config.gan.loss == "wgan_gp" and d_vars:
      raise ValueError("--config.gan.loss=wgan_gp: the gradient penalty is per example and "
                       "batch norm in the critic mixes examples; use --config.model.d_norm="
                       "layer or none")
    return AdversarialState(
        step=jnp.zeros((), jnp.int32), params=params,
        model_state={"generator": g_vars, "discriminator": d_vars},
        opt_state={name: self.tx.init(params[name]) for name in NETWORKS},
        generator_ema=params["generator"] if self.config.gan.ema_decay else None,
        generator_ema_state=g_vars if self.config.gan.ema_decay else None,
        d_updates=jnp.zeros((), jnp.int32), g_updates=jnp.zeros((), jnp.int32))

  @staticmethod
  def _apply(net, params, model_state, *args, train: bool):
    """(output, new model_state): batch statistics are updated only in training."""
    variables = {"params": params, **model_state}
    if train and model_state:
      out, updates = net.apply(variables, *args, train=True, mutable=list(model_state))
      return out, dict(updates)
    return net.apply(variables, *args, train=train), model_state

  def _minibatches(self, batch):
    """[k*m, ...] -> [k, m, ...]: minibatch j is rows j, j + k, ..."""
    def split(x):
      return jnp.swapaxes(x.reshape((self.m, self.k) + x.shape[1:]), 0, 1)
    data = split(to_model_space(batch[self.config.gan.data_key]))
    labels = split(batch["label"]) if self.num_classes else None
    return data, labels

  def _d_update(self, state_g, carry, inputs):
    """One discriminator update on one data minibatch and m fresh noise samples."""
    c = self.config.gan
    params_g, model_state_g = state_g
    params_d, model_state_d, opt_d, d_updates = carry
    real, real_labels, key = inputs
    z_key, y_key, gp_key = jax.random.split(key, 3)
    fake_labels = self._labels(y_key, self.m)
    fake, _ = self._apply(self.generator, params_g, model_state_g, self._noise(z_key),
                          fake_labels, train=True)
    fake = along_data(jax.lax.stop_gradient(fake))

    def loss_fn(params):
      # Real and generated samples pass separately (their own batch statistics), as in DCGAN.
      d_real, ms = self._apply(self.discriminator, params, model_state_d, real, real_labels,
                               train=True)
      d_fake, ms = self._apply(self.discriminator, params, ms, fake, fake_labels, train=True)
      loss = gan_losses.discriminator_loss(c.loss, d_real, d_fake)
      penalty = jnp.zeros(())
      if c.loss == "wgan_gp":
        critic = lambda x: self._apply(self.discriminator, params, ms, x, real_labels,
                                       train=True)[0]
        penalty = gan_losses.gradient_penalty(critic, real, fake, gp_key)
        loss = loss + c.gp_weight * penalty
      return loss, (ms, d_real, d_fake, penalty)

    (loss, (model_state_d, d_real, d_fake, penalty)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params_d)
    updates, opt_d = self.tx.update(grads, opt_d, params_d)
    params_d = optax.apply_updates(params_d, updates)
    metrics = {"d_loss": loss, "d_real": gan_losses.d_probability(c.loss, d_real).mean(),
               "d_fake": gan_losses.d_probability(c.loss, d_fake).mean(),
               "d_grad_norm": optimizers.global_norm(grads)}
    if c.loss == "wgan_gp":
      metrics["gradient_penalty"] = penalty
    return (params_d, model_state_d, opt_d, d_updates + 1), metrics

  def train_step(self, state: AdversarialState, batch, rng):
    c = self.config.gan
    reals, real_labels = self._minibatches(batch)
    d_key, g_key = jax.random.split(rng)
    state_g = (state.params["generator"], state.model_state["generator"])
    carry = (state.params["discriminator"], state.model_state["discriminator"],
             state.opt_state["discriminator"], state.d_updates)
    keys = jax.random.split(d_key, self.k)
    # The k updates unrolled in Python, not a lax.scan: XLA:CPU runs the convolutions of a
    # loop body about 30x slower than the same ones outside a loop (DCGAN's D gradient at
    # 64x64, batch 64: 1.0 s against 33 ms; BENCHMARKS.md, "GANs").
    d_metrics = []
    for j in range(self.k):
      carry, metrics = self._d_update(
          state_g, carry, (along_data(reals[j]),
                           None if real_labels is None else along_data(real_labels[j]), keys[j]))
      d_metrics.append(metrics)
    d_metrics = jax.tree.map(lambda *v: jnp.stack(v), *d_metrics)
    params_d, model_state_d, opt_d, d_updates = carry

    z_key, y_key = jax.random.split(g_key)
    z, labels = self._noise(z_key), self._labels(y_key, self.m)

    def g_loss_fn(params):
      fake, ms = self._apply(self.generator, params, state.model_state["generator"], z, labels,
                             train=True)
      fake = along_data(fake)
      # D as in its own updates (training mode); its batch statistics are not updated here.
      d_fake, _ = self._apply(self.discriminator, params_d, model_state_d, fake, labels,
                              train=True)
      return gan_losses.generator_loss(c.loss, d_fake), ms

    (g_loss, model_state_g), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(
        state.params["generator"])
    updates, opt_g = self.tx.update(g_grads, state.opt_state["generator"],
                                    state.params["generator"])
    params_g = optax.apply_updates(state.params["generator"], updates)
    ema, ema_state = state.generator_ema, state.generator_ema_state
    if ema is not None:
      ema, ema_state = optimizers.ema_update((ema, ema_state), (params_g, model_state_g),
                                             c.ema_decay, state.step)
    metrics = {k: v.mean() for k, v in d_metrics.items()}  # averaged over the k updates
    metrics.update({"g_loss": g_loss, "g_grad_norm": optimizers.global_norm(g_grads),
                    "learning_rate": self.schedule(state.step)})
    new_state = state.replace(
        step=state.step + 1,
        params={"generator": params_g, "discriminator": params_d},
        model_state={"generator": model_state_g, "discriminator": model_state_d},
        opt_state={"generator": opt_g, "discriminator": opt_d}, generator_ema=ema,
        generator_ema_state=ema_state,
        d_updates=d_updates, g_updates=state.g_updates + 1)
    return new_state, metrics

  def predict_fn(self, state: AdversarialState, batch):
    """{'samples': G(noise | label)} in evaluation mode (batch norm's running averages)."""
    params, model_state = state.params["generator"], state.model_state["generator"]
    if state.generator_ema is not None:
      params, model_state = state.generator_ema, state.generator_ema_state
    labels = batch.get("label") if self.num_classes else None
    samples, _ = self._apply(self.generator, params, model_state,
                             batch["noise"], labels, train=False)
    return {"samples": samples}
