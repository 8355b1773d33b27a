"""Weakly supervised facial attribute manipulation (Wang et al., WACV 2018) on 64x64 CelebA: a source face takes on reference faces' attribute; `:synthetic` on the procedural face stand-in.

Prerequisite: the judge and perceptual network, `face_attribute_classifier` (same data),
trained first; `stages()` lists it (its workdir next to this run's,
`{runs}/face_attribute_classifier[_VARIANT]`), and `config.manipulation.classifier`
points there. One model per attribute (`--config.manipulation.attribute=NAME`, CelebA's
or the stand-in's names); a model does not carry several (its attribute discriminator
judges one attribute).

What the paper gives: the three losses (perceptual content loss, global adversarial loss,
attribute adversarial loss with a localising attribute discriminator), weak (image-level)
labels, reference faces. What we filled in: the networks' sizes (`zoo.models.
attribute_gan`), the generator's mask blend, loss weights 1 / 1 / 1 (content / global /
attribute), the perceptual network (the zoo's attribute classifier, first two blocks, for
the paper's VGG, which `--config.manipulation.perceptual=vgg16:DIR` restores from Keras
Applications' weights converted by `zoo.models.convert`), one reference per source, Adam 2e-4 beta1 0.5, 64x64 crops as
`dcgan_faces`, 20,000 iterations of 64.

Stand-in figures (`:synthetic`, Eyeglasses, batch 32, judged on 400 test sources by the
400-step classifier of its stage, which reads eyeglasses at 0.997; this session's code,
2 CPU cores shared with two other runs, ~15 min per 400 iterations): at 400 iterations
success 0.45 (floor 0.00 on the unedited sources, ceiling 0.99 on real faces with
glasses, 0.998 on the true edits), non-target attributes unchanged 0.844 (0.904 on the
unedited sources, 0.894 on the true edits: the judge's own errors), Fréchet 364 (floor
136, true edits 84); resumed to 600: success 0.79, unchanged 0.887, Fréchet 193; to 800:
0.68, 0.880, 210 (`:synthetic` now runs 800). The targets carry dark rings at the eyes and the mask sits on the eyes,
with speckles over the hair and face. `--config.manipulation.content_weight=30` (the
perceptual loss is ~0.03 against ~1 for each adversarial loss at weight 1) kept more of
the rest (unchanged 0.887 at 400) but drew almost no glasses (success 0.08 at 400), so
the default stays 1.
"""
import os

import ml_collections

from experiments import _faces

VARIANTS = {
    "synthetic": "the procedural face stand-in (zoo.data.faces) at 64x64, Eyeglasses; under 30 minutes on 2 CPU cores",
    "smoke": "a few steps on tiny stand-in faces, for tests",
}
CLASSIFIER = "face_attribute_classifier"


def get_config(arg=None):
  config = ml_collections.ConfigDict()
  config.experiment = ""
  config.seed = 0
  config.cpu_convolutions = "eigen"
  config.task = "attribute_manipulation"
  config.model = ml_collections.ConfigDict(dict(
      g_width=32, residual_blocks=2, mask_bias=-2.0, d_width=32, a_width=32,
      conv_matmul_grads="auto", dtype="float32", param_dtype="float32"))
  variant = f"_{arg}" if arg else ""
  config.manipulation = ml_collections.ConfigDict(dict(
      attribute="Smiling",
      classifier=f"{{runs}}/{CLASSIFIER}{variant}",  # the prerequisite run's workdir
      # "" : the classifier's blocks; vgg16:DIR / vgg19:DIR: an ImageNet VGG converted from
      # Keras Applications (the paper's), its relu1_2, relu2_2, ...
      perceptual="",
      perceptual_layers=2,  # blocks of the perceptual network in the content loss
      num_references=1,
      content_weight=1.0, adversarial_weight=1.0, attribute_weight=1.0, pixel_weight=0.0))
  config.data = _faces.celeb_a()
  config.batch_size = 64
  config.eval_batch_size = 250
  config.num_epochs = 0.0
  config.total_steps = 20_000
  config.optimizer = ml_collections.ConfigDict(dict(
      name="adam", momentum=0.0, nesterov=False, weight_decay=0.0, grad_clip_norm=0.0,
      rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.5, adam_b2=0.999))
  config.schedule = ml_collections.ConfigDict(dict(
      name="constant", base_lr=2e-4, warmup_epochs=0.0, decay_epochs=(), decay_factor=1.0))
  config.evals = ml_collections.ConfigDict(dict(
      manipulation=dict(type="attribute_manipulation", split="test", num_sources=2_000,
                        judge="", seed=1, grid_rows=8)))
  config.log_every_steps = 100
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 1_000
  config.keep_checkpoints = 3
  config.init_from = ""
  if arg in ("synthetic", "smoke"):
    config.data = _faces.stand_in(num_train=4_000)
    config.model.update(dict(g_width=16, d_width=16, a_width=16))
    # Eyeglasses: the 400-step stand-in judge reads them at 0.997 but smiles at 0.58 only.
    config.manipulation.attribute = "Eyeglasses"
    config.batch_size = 32
    config.total_steps = 800  # success 0.45 at 400 iterations, 0.68-0.79 at 600-800
    config.log_every_steps = 50
    config.eval_every_steps = 200
    config.checkpoint_every_steps = 200
    config.evals.manipulation.num_sources = 400
  if arg == "smoke":
    config.data.update(_faces.SMOKE)
    config.model.update(dict(g_width=8, d_width=8, a_width=8, residual_blocks=1))
    config.batch_size = 16
    config.eval_batch_size = 20
    config.total_steps = 6
    config.log_every_steps = 2
    config.eval_every_steps = 0
    config.checkpoint_every_steps = 6
    config.evals.manipulation.update(dict(num_sources=20, grid_rows=4))
  return config


def stages(config, workdir):
  """The classifier run first (judge and perceptual features), in the folder the config
  names; run by `launch/stages.py` on main."""
  del workdir
  variant = config.experiment.partition(":")[2]
  return [{"name": "classifier", "experiment": f"{CLASSIFIER}:{variant}" if variant else CLASSIFIER,
           "overrides": [f"--config.data.seed={config.data.seed}"] if variant else [],
           "workdir": config.manipulation.classifier}]
