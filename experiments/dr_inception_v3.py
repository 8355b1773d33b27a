"""Referable diabetic retinopathy with Inception-v3 on whole fundus photographs (Gulshan et al., JAMA 2016).

Default, as in the paper: Inception-v3 at 299x299 on the fundus scaled so its diameter
fills the input, started from ImageNet weights (convert Keras' with
`python -m zoo.models.convert` and pass --config.init_from=DIR); graded on the 5-point
ICDR scale (softmax over 0-4; the paper used one sigmoid per referral category),
referable = moderate or worse (grade >= 2), scored as P(grade >= 2). Evaluation: ROC AUC
and sensitivity/specificity at a high-specificity and a high-sensitivity operating point
chosen on the validation split, reported on the test split (paper, EyePACS-1: AUC 0.991,
90.3%/98.1% and 97.5%/93.4%); an ensemble of networks (the paper averaged 10) is
`--config.evals.test.ensemble=DIR1,DIR2,...`. The optimizer settings are the Inception-v3
paper's at a tenth of its learning rate for fine-tuning, 30 epochs (Gulshan et al. do not
give theirs). Real data: tfds diabetic_retinopathy_detection from --config.data.dir.
"""
import ml_collections

from experiments import _classification, imagenet_inception_v3

VARIANTS = {
    "synthetic": "Inception-v3 from scratch on the embedded procedural fundus stand-in (128x128); minutes on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}
SWITCHES = _classification.SWITCHES


def get_config(arg=None):
  config = imagenet_inception_v3.get_config()
  config.data = ml_collections.ConfigDict(dict(
      name="diabetic_retinopathy", dir="", tfds_config="250K", train_split="train",
      image_size=299, random_flip=True,
      random_rotation=180.0,   # degrees; a fundus has no canonical orientation... almost
      random_brightness=0.2,   # relative; photographs vary in exposure
      num_threads=16, prefetch_batches=4, prefetch_to_device=2, max_bad_fraction=0.001,
      seed=0, num_train=0, num_eval=0))  # used by the stand-in only
  config.num_epochs = 30.0
  config.schedule.base_lr = 0.0045
  config.evals = ml_collections.ConfigDict()
  config.evals.test = ml_collections.ConfigDict(dict(
      type="roc", split="test", operating_split="validation", positive_from=2,
      high_sensitivity=0.975, high_specificity=0.981, ensemble=()))
  if arg in ("synthetic", "smoke"):
    config.data.update(dict(name="fundus", image_size=128, num_threads=2, num_train=3_200,
                            num_eval=1_000))
    config.batch_size = 32
    config.eval_batch_size = 200
    config.num_epochs = 3.0
    config.model.bn_momentum = 0.99  # running statistics must settle within a few hundred steps
    config.optimizer.update(dict(name="adam", weight_decay=0.0, grad_clip_norm=0.0))
    config.schedule.update(dict(name="cosine", base_lr=1e-3, warmup_epochs=0.25))
    config.ema_decay = 0.0
    config.log_every_steps = 50
    config.checkpoint_every_steps = 200
  if arg == "smoke":
    config.data.update(dict(image_size=75, num_train=256, num_eval=64))
    config.batch_size = 16
    config.eval_batch_size = 32
    config.total_steps = 6
    config.log_every_steps = 2
    config.checkpoint_every_steps = 3  # one save mid-run: each costs ~5 s on 8 CPU devices
  return config
