"""VGG-F (Chatfield et al., BMVC 2014) on ImageNet; `:synthetic` on embedded stand-in shapes.

Default: the paper-style run (224x224 crops from 256-resized images with flips, SGD
momentum 0.9, lr 0.01 at batch 256 divided by 10 three times, weight decay 5e-4,
dropout 0.5 on fc6/fc7). Real data is read from --config.data.dir (tfds imagenet2012).
"""
from experiments import _classification

VARIANTS = {
    "synthetic": "VGG-F on the embedded textured-shapes stand-in (64x64, 10 classes); minutes on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}
SWITCHES = _classification.SWITCHES


def get_config(arg=None):
  # lrn_params and pool_pads: MatConvNet's imagenet-vgg-f.mat has its own (`python -m
  # zoo.models.convert --from=matconvnet` prints them).
  config = _classification.base_config(name="vgg_f", fc_features=4096, dropout_rate=0.5,
                                       lrn=True, lrn_params=(5, 2.0, 2e-5, 0.75), pool_pads=())
  config.optimizer.weight_decay = 5e-4
  config.schedule.base_lr = 0.01

  if arg in ("synthetic", "smoke"):
    _classification.use_stand_in(config, image_size=64)
    # Adam leaves VGG-F's initial plateau several times sooner than the paper's SGD on a
    # minutes-long CPU budget; `--config.optimizer.name=sgd` restores the paper's optimizer.
    config.schedule.base_lr = 3e-4
  if arg == "smoke":
    config.model.fc_features = 256
    _classification.use_smoke(config)
  return config
