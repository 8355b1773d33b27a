"""Facial-attribute classifier (a small CNN, independent sigmoids): the perceptual feature network and, trained apart, the judge of `face_attributes`; `:synthetic` on the procedural face stand-in.

Trained on the images' attribute labels (CelebA's 40; the stand-in's 7), Adam 1e-3, no
augmentation but horizontal flips, inputs in [-1, 1] (the generators' range). Evaluated by
per-attribute accuracy on the held-out split (`attribute_accuracy.md`).

The judge (`judge_overrides`): the same experiment with another seed (another
initialisation and another order of the training data) and twice the width (another
network: 4x the parameters of every convolution), so that the generator, trained against
the perceptual network's features, is not measured by that network.
"""
import ml_collections

from experiments import _classification, _faces

VARIANTS = {
    "synthetic": "the procedural face stand-in (zoo.data.faces) at 64x64; minutes on a CPU",
    "smoke": "a few steps on tiny stand-in faces, for tests",
}


JUDGE_SEED = 1


def judge_overrides(arg=None) -> list:
  """The overrides that make this experiment the judge (module docstring)."""
  return [f"--config.seed={JUDGE_SEED}",
          f"--config.model.width={2 * get_config(arg).model.width}"]


def get_config(arg=None):
  config = _classification.base_config(name="attribute_cnn", width=32)
  config.task = "attribute_classification"
  config.input_normalization = "inception"
  config.data = _faces.celeb_a()
  config.batch_size = 128
  config.eval_batch_size = 250
  config.num_epochs = 3.0
  config.optimizer.update(dict(name="adam", momentum=0.0, weight_decay=0.0))
  config.schedule.update(dict(name="cosine", base_lr=1e-3, warmup_epochs=0.1,
                              decay_epochs=(), decay_factor=1.0))
  config.evals = ml_collections.ConfigDict(dict(
      attributes=dict(type="attribute_accuracy", split="test")))
  config.log_every_steps = 100
  if arg in ("synthetic", "smoke"):
    config.data = _faces.stand_in(num_train=4_000)
    config.model.width = 16
    config.batch_size = 64
    config.num_epochs = None
    config.total_steps = 400
    config.log_every_steps = 50
    config.checkpoint_every_steps = 400
  if arg == "smoke":
    config.data.update(_faces.SMOKE)
    config.model.width = 8
    config.batch_size = 16
    config.eval_batch_size = 20
    config.total_steps = 6
    config.log_every_steps = 2
    config.checkpoint_every_steps = 6
  return config
