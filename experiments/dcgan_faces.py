"""DCGAN (Radford et al., ICLR 2016) on 64x64 CelebA faces; `:synthetic` on procedurally drawn faces with known attributes.

Default, as in the paper: strided convolutions, batch norm (not in G's output or D's
input), ReLU in G with a tanh output, LeakyReLU 0.2 in D, weights from N(0, 0.02), Adam
2e-4 with beta1 = 0.5, m = 128, 100-d uniform noise; the 64x64 layout of the authors' code
(512-256-128-64 channels). The paper does not give its CelebA iteration count; 10,000
iterations (8 epochs of CelebA's 162,770 training faces) here. Data: tfds celeb_a from
--config.data.dir, the central 108x108 crop resized to 64x64 (as in the DCGAN code for
CelebA). Evaluation: an 8x8 sample grid from fixed noise, and the Fréchet distance in the
feature space of a small CNN the evaluator trains on the 40 attributes (its accuracy
reported), against the test split, with the real-vs-real floor of its two halves.

Stand-in figures (2 CPU cores, 1,000 iterations of 64; Fréchet distance in the 64-d
features of the evaluator's classifier, 0.926 accurate on the 7 attributes; real-vs-real
floor 13.8): at `:synthetic`'s width 32, 1330 (iteration 200), 589, 464, 528, 264
(1,000; 28 min beside three other jobs), and the samples are blurred but recognisable
faces with varied hair colour, skin and backgrounds; at width 16, 1518, 1256, 881, 716,
then 1775 at 1,000 as the generator collapsed to one face (D's loss 0.004). Not a
converged DCGAN: the discriminator stays ahead (D(G(z)) 0.05 at the end).
"""
import ml_collections

from experiments import _faces, _gan

MINIBATCH = 128
VARIANTS = {
    "synthetic": "the procedural face stand-in (zoo.data.faces) at 64x64, a half-width DCGAN; ~20 minutes on 2 CPU cores",
    "smoke": "a few iterations on tiny stand-in faces, for tests",
}
SWITCHES = {"loss": _gan.loss_switches(MINIBATCH, {"model.d_norm": "layer"}),
            "ema": {"on": {"gan.ema_decay": 0.999}, "off": {"gan.ema_decay": 0.0}}}


def get_config(arg=None):
  config = _gan.base_config(
      model=dict(name="dcgan", width=64, d_norm="batch", bn_momentum=0.9,
                 conv_matmul_grads="auto"),
      data=dict(name="celeb_a", dir="", image_size=64, crop_size=108, random_flip=False),
      minibatch=MINIBATCH)
  config.data.num_threads = 16
  config.gan.noise = "uniform"
  config.total_steps = 10_000
  config.eval_batch_size = 256
  config.eval_every_steps = 1_000
  config.evals = ml_collections.ConfigDict(dict(
      grid=dict(type="samples", rows=8, cols=8, seed=1, scale=1),
      frechet=dict(type="frechet", split="test", features="classifier",
                   classifier_target="attributes", classifier_steps=2_000,
                   classifier_batch=128, classifier_examples=50_000, seed=2)))
  if arg in ("synthetic", "smoke"):
    config.data = _faces.stand_in(num_train=6_400)
    config.model.width = 32  # 16 collapsed to one face within 1,000 iterations (docstring)
    config.batch_size = 64
    config.eval_batch_size = 250
    config.total_steps = 1_000
    config.log_every_steps = 50
    config.eval_every_steps = 200
    config.checkpoint_every_steps = 200
    config.evals.frechet.update(dict(classifier_steps=200, classifier_batch=32,
                                     classifier_examples=3_000))
  if arg == "smoke":
    config.data.update(_faces.SMOKE)
    config.model.width = 8
    config.batch_size = 16
    config.eval_batch_size = 20
    config.total_steps = 6
    config.log_every_steps = 2
    config.eval_every_steps = 3
    config.checkpoint_every_steps = 2
    config.evals.grid.update(dict(rows=2, cols=4))
    config.evals.frechet.update(dict(classifier_steps=3, classifier_batch=8,
                                     classifier_examples=64))
  return config
