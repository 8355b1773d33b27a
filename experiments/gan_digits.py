"""The original GAN (Goodfellow et al. 2014) on scikit-learn's 8x8 handwritten digits; class-conditional and DCGAN variants.

Default: Algorithm 1 with k = 1 and m = 64, the non-saturating generator loss, fully
connected networks (ReLU generator with tanh output, maxout discriminator, 2 hidden
layers of 256), 100-d uniform noise as in the paper, Adam (2e-4, beta1 = 0.5), 4,000
iterations on the 1,297 training digits. Evaluation: a 10x10 sample grid from fixed noise
at every evaluation, and the Fréchet distance in the feature space of a small CNN the
evaluator trains on the digits' labels (its accuracy reported), against the 500 held-out
digits, with the real-vs-real floor of their two halves.
"""
import ml_collections

from experiments import _gan

MINIBATCH = 64
VARIANTS = {
    "synthetic": "the default (the digits ship inside scikit-learn: no stand-in needed)",
    "conditional": "class-conditional G and D (Mirza & Osindero 2014); one grid row per digit",
    "dcgan": "DCGAN networks at 8x8 (one strided layer each way, batch norm)",
    "smoke": "a few iterations, for tests",
}
SWITCHES = {"loss": _gan.loss_switches(MINIBATCH),
            "ema": {"on": {"gan.ema_decay": 0.999}, "off": {"gan.ema_decay": 0.0}},
            "conditional": {"on": {"gan.conditional": True}, "off": {"gan.conditional": False}}}


def get_config(arg=None):
  config = _gan.base_config(
      model=dict(name="gan_mlp", g_hidden=(256, 256), d_hidden=(256, 256),
                 d_activation="maxout", maxout_pieces=5, output="tanh"),
      data=dict(name="digits"), minibatch=MINIBATCH)
  config.gan.noise = "uniform"
  config.total_steps = 4_000
  config.log_every_steps = 200
  config.eval_every_steps = 500
  config.checkpoint_every_steps = 1_000
  config.evals = ml_collections.ConfigDict(dict(
      grid=dict(type="samples", rows=10, cols=10, seed=1, scale=4),
      frechet=dict(type="frechet", split="test", features="classifier",
                   classifier_target="label", classifier_steps=600, classifier_batch=64,
                   classifier_examples=0, seed=2)))
  if arg == "conditional":
    config.gan.conditional = True
  if arg == "dcgan":
    config.model = ml_collections.ConfigDict(dict(
        name="dcgan", width=64, d_norm="batch", bn_momentum=0.9, conv_matmul_grads="auto",
        dtype="float32", param_dtype="float32"))
  if arg == "smoke":
    config.batch_size = 16
    config.eval_batch_size = 50
    config.total_steps = 6
    config.log_every_steps = 2
    config.eval_every_steps = 3
    config.checkpoint_every_steps = 2
    config.evals.frechet.classifier_steps = 5
  return config
