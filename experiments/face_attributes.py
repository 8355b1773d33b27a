"""Weakly supervised facial attribute manipulation (Wang et al., WACV 2018) on 64x64 CelebA: a source face takes on reference faces' attribute; `:synthetic` on the procedural face stand-in.

Prerequisites, two `face_attribute_classifier` runs (same data) trained first; `stages()`
lists both (workdirs next to this run's): the perceptual network of the content loss,
`{runs}/face_attribute_classifier[_VARIANT]` (`config.manipulation.classifier`), and the
judge of the evaluation, trained apart from it (another seed, hence another
initialisation and data order, and twice the width: `face_attribute_classifier.
judge_overrides`), `{runs}/face_attribute_classifier[_VARIANT]_judge`
(`config.evals.manipulation.judge`; '' judges with the perceptual network itself, the
measure of a generator against the network it was trained on). Training the judge costs
as much as the perceptual network's run at 4x the convolution FLOPs (stand-in: 400 steps). One model per attribute (`--config.manipulation.attribute=NAME`, CelebA's
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

Stand-in figures (`:synthetic`, Eyeglasses, batch 32, 400 test sources, judged by the
judge stage: the 1,000 test faces' Eyeglasses at 0.999, Smiling at 0.757, the 7
attributes at 0.950 on average; the perceptual network's stage reads 0.997, 0.588,
0.922). All three stages and the 800 iterations took 17 min wall on 2 quiet CPU cores
(classifier 97 s, judge 211 s, manipulation 710 s). By iteration 200 / 400 / 600 / 800:
success 0.08 / 0.46 / 0.81 / 0.79 (floor 0.00 on the unedited sources, ceiling 0.997 on
real faces with glasses, 1.000 on the true edits), non-target attributes unchanged 0.912 /
0.885 / 0.918 / 0.918 (0.943 on the unedited sources, 0.940 on the true edits: the
judge's own errors), Fréchet 1396 / 917 / 283 / 367 (floor 80, true edits 62). The same
800-iteration generator judged by its own perceptual network (`--config.evals.
manipulation.judge=`, the default before the judge stage): success 0.76, unchanged 0.888,
Fréchet 241 (floor 137): the two judges agree within 0.03 on success here; the
perceptual network is the weaker reader (unchanged 0.908 even on the unedited sources).
On 8 fake CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=8`, the
manipulation stage only, 732 s) the path differs (success 0.05 / 0.01 / 0.90 by 200 / 400
/ 600: sharded reductions) and ends at success 0.78, unchanged 0.924, Fréchet 316.
The targets (`triplets_Eyeglasses.png`) carry rings at the eyes, the mask sits on
the eyes, and speckles cover the hair and face. `--config.manipulation.content_weight=30` (the
perceptual loss is ~0.03 against ~1 for each adversarial loss at weight 1) kept more of
the rest (unchanged 0.887 at 400) but drew almost no glasses (success 0.08 at 400), so
the default stays 1 (those two figures: judged by the perceptual network, before the
judge stage).
"""
import os

import ml_collections

from experiments import _faces, face_attribute_classifier

VARIANTS = {
    "synthetic": "the procedural face stand-in (zoo.data.faces) at 64x64, Eyeglasses; two classifier stages (the judge at 4x the FLOPs), then 800 iterations",
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
                        judge=f"{{runs}}/{CLASSIFIER}{variant}_judge",  # a stage
                        seed=1, grid_rows=8)))
  config.log_every_steps = 100
  config.eval_every_steps = 2_000
  config.checkpoint_every_steps = 1_000
  config.keep_checkpoints = 3
  config.init_from = ""
  if arg in ("synthetic", "smoke"):
    config.data = _faces.stand_in(num_train=4_000)
    config.model.update(dict(g_width=16, d_width=16, a_width=16))
    # Eyeglasses: both stand-in classifiers read them at 0.997+, smiles at 0.59 / 0.76 only.
    config.manipulation.attribute = "Eyeglasses"
    config.batch_size = 32
    config.total_steps = 800  # judged success 0.46 at 400 iterations, 0.81 / 0.79 at 600 / 800
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
  """The perceptual network's classifier run, then the judge's (unless the config judges
  with the perceptual network), in the folders the config names; run by
  `launch/stages.py` on main."""
  del workdir
  variant = config.experiment.partition(":")[2]
  experiment = f"{CLASSIFIER}:{variant}" if variant else CLASSIFIER
  data = [f"--config.data.seed={config.data.seed}"] if variant else []
  found = [{"name": "classifier", "experiment": experiment, "overrides": data,
            "workdir": config.manipulation.classifier}]
  judge = config.evals.manipulation.judge
  if judge and judge != config.manipulation.classifier:
    found.append({"name": "judge", "experiment": experiment,
                  "overrides": data + face_attribute_classifier.judge_overrides(variant or None),
                  "workdir": judge})
  return found
