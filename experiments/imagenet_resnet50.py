"""ResNet-50 v1.5 (He et al., CVPR 2016) on ImageNet; the zoo's throughput reference network.

Default: SGD momentum 0.9, lr 0.1 per 256 examples divided by 10 at epochs 30, 60 and 80
of 90, weight decay 1e-4 on kernels, batch norm (momentum 0.9, epsilon 1e-5), 224x224
Inception-style random-resized crops with flips (as NVIDIA's v1.5 reference; the paper
used scale augmentation on 256-480 resized images). Real data: tfds imagenet2012 from
--config.data.dir.
"""
from experiments import _classification

VARIANTS = {
    "synthetic": "ResNet-50 on the embedded textured-shapes stand-in (32x32, 10 classes); minutes on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}
SWITCHES = _classification.SWITCHES


def get_config(arg=None):
  # stride_in_1x1 and conv_bias on: Keras' ResNet50 (v1), for its converted weights.
  config = _classification.base_config(name="resnet", bn_momentum=0.9, bn_epsilon=1e-5,
                                       stride_in_1x1=False, conv_bias=False, remat=False)
  config.data.train_crop = "resized"
  if arg in ("synthetic", "smoke"):
    # 32x32: a ResNet-50 step at 64x64 costs 1.7 GFLOP per image, too slow for minutes.
    _classification.use_stand_in(config, image_size=32, num_epochs=3.0)
  if arg == "smoke":
    config.model.update(dict(stage_sizes=(1, 1, 1, 1), width=16))
    _classification.use_smoke(config)
  return config
