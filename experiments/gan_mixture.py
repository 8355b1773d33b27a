"""The original GAN (Goodfellow et al. 2014) on a 2-D mixture of Gaussians (ring of 8 or grid of 25), where dropped modes are counted.

Default: Algorithm 1 with k = 1 discriminator step per generator step and m = 256, the
non-saturating generator loss, fully connected networks (ReLU generator, maxout
discriminator, 3 hidden layers of 128), 2-d uniform noise in [-1, 1], Adam (1e-3,
beta1 = 0.5; the paper used SGD with momentum, which is much slower on this task), 5,000
iterations on the ring of 8 (std 0.02). With 16-d normal noise (or a ReLU discriminator)
the same run stalls at 4 of 8 modes. Evaluation: modes covered and the high-quality share (within 3 std),
a scatter plot, and the Fréchet distance on the raw points with its real-vs-real floor.
Sweep the losses with `python -m launch.sweep --experiment=gan_mixture --workdir=DIR
--sweep='loss=non_saturating,saturating,least_squares,hinge,wgan_gp'`.
"""
import ml_collections

from experiments import _gan

MINIBATCH = 256
VARIANTS = {
    "synthetic": "the default (the mixture is itself synthetic: nothing to stand in for)",
    "grid": "the grid of 25 modes (std 0.05), 10,000 iterations",
    "smoke": "a few iterations on a small mixture, for tests",
}
SWITCHES = {"loss": _gan.loss_switches(MINIBATCH),
            "ema": {"on": {"gan.ema_decay": 0.999}, "off": {"gan.ema_decay": 0.0}}}


def get_config(arg=None):
  config = _gan.base_config(
      model=dict(name="gan_mlp", g_hidden=(128, 128, 128), d_hidden=(128, 128, 128),
                 d_activation="maxout", maxout_pieces=5, output="linear"),
      data=dict(name="gaussian_mixture", mixture="ring", num_train=64_000, num_eval=2_000),
      minibatch=MINIBATCH)
  config.gan.update(dict(latent_dim=2, noise="uniform", data_key="point"))
  config.schedule.base_lr = 1e-3
  config.total_steps = 5_000
  config.eval_batch_size = 500
  config.log_every_steps = 250
  config.eval_every_steps = 1_000
  config.checkpoint_every_steps = 1_000
  config.evals = ml_collections.ConfigDict(dict(
      modes=dict(type="mixture", num_samples=2_500, min_count=20, seed=1),
      frechet=dict(type="frechet", split="test", features="raw", seed=2)))
  if arg == "grid":
    config.data.mixture = "grid"
    config.total_steps = 10_000
  if arg == "smoke":
    config.data.update(dict(num_train=512, num_eval=100))
    config.batch_size = 32
    config.eval_batch_size = 50
    config.evals.modes.num_samples = 100
    config.evals.modes.min_count = 2
    config.total_steps = 6
    config.log_every_steps = 2
    config.eval_every_steps = 3
    config.checkpoint_every_steps = 2
  return config
