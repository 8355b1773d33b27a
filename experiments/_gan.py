"""The config every GAN experiment starts from (`task='adversarial'`): the original
algorithm of Goodfellow et al. (2014) with the non-saturating generator loss, one field per
variant, and the loss switch for sweeps.

Not an experiment itself (the leading underscore keeps it out of `--list`).
"""
import ml_collections


def base_config(*, model: dict, data: dict, minibatch: int) -> ml_collections.ConfigDict:
  """`minibatch` is the paper's m; `batch_size` = k * m (k = `gan.d_steps`)."""
  config = ml_collections.ConfigDict()
  config.experiment = ""  # filled in by the launcher
  config.seed = 0
  config.cpu_convolutions = "eigen"  # XLA:CPU's library: eigen | ynnpack (zoo/models/conv.py)
  config.task = "adversarial"
  config.model = ml_collections.ConfigDict(dict(dtype="float32", param_dtype="float32",
                                                **model))
  config.gan = ml_collections.ConfigDict(dict(
      loss="non_saturating",  # saturating | non_saturating | least_squares | wgan_gp | hinge
      d_steps=1,              # k: discriminator updates per generator update
      latent_dim=100, noise="normal",  # normal | uniform in [-1, 1]
      conditional=False,      # class-conditional G and D (the data's classes)
      gp_weight=10.0,         # WGAN-GP's lambda
      ema_decay=0.0,          # > 0: evaluate an exponential moving average of G's weights
      data_key="image"))      # the batch field G imitates: image (uint8) | point (float)
  config.data = ml_collections.ConfigDict(dict(
      train_split="train", num_threads=2, prefetch_batches=4, prefetch_to_device=2,
      max_bad_fraction=0.001, seed=0, num_train=0, num_eval=0))  # the last three: stand-ins
  config.data.update(data)
  config.batch_size = minibatch  # k * m data examples per iteration
  config.eval_batch_size = 250
  config.num_epochs = 0.0  # unused: GANs count iterations (`total_steps`)
  config.total_steps = 10_000  # iterations: one generator update each
  config.optimizer = ml_collections.ConfigDict(dict(
      name="adam", momentum=0.0, nesterov=False, weight_decay=0.0, grad_clip_norm=0.0,
      rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.5, adam_b2=0.999))
  config.schedule = ml_collections.ConfigDict(dict(
      name="constant", base_lr=2e-4, warmup_epochs=0.0, decay_epochs=(), decay_factor=1.0))
  config.evals = ml_collections.ConfigDict()
  config.log_every_steps = 100
  config.eval_every_steps = 0
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  config.init_from = ""
  return config


def loss_switches(minibatch: int, wgan_gp: dict = None) -> dict:
  """`SWITCHES['loss']` for `launch.sweep`: each loss of `zoo.tasks.gan_losses`. WGAN-GP
  takes Gulrajani et al.'s settings: 5 critic steps (so 5 * m examples an iteration),
  Adam 1e-4 with beta1 = 0, beta2 = 0.9, plus `wgan_gp` (e.g. a critic without batch norm)."""
  switches = {name: {"gan.loss": name, "gan.d_steps": 1, "batch_size": minibatch}
              for name in ("non_saturating", "saturating", "least_squares", "hinge")}
  switches["wgan_gp"] = {"gan.loss": "wgan_gp", "gan.d_steps": 5, "batch_size": 5 * minibatch,
                         "optimizer.adam_b1": 0.0, "optimizer.adam_b2": 0.9,
                         "schedule.base_lr": 1e-4, **(wgan_gp or {})}
  return switches


def use_wgan_gp(config, minibatch: int, **extra):
  """Applies the WGAN-GP switch to `config` (for an experiment's variant)."""
  for key, value in loss_switches(minibatch, extra)["wgan_gp"].items():
    node = config
    *path, last = key.split(".")
    for part in path:
      node = node[part]
    node[last] = value
  return config
