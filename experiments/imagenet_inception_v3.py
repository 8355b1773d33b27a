"""Inception-v3 (Szegedy et al., CVPR 2016) on ImageNet at 299x299.

Default, from the paper: RMSProp (decay 0.9, epsilon 1.0), learning rate 0.045 decayed
x0.94 every 2 epochs, gradient clipping at norm 2.0, label smoothing 0.1, auxiliary
classifier on the 17x17 grid weighted 0.4, batch norm, 100 epochs; inputs scaled to
[-1, 1]; weight decay 4e-5 and an EMA of the weights (decay 0.9999) as in the TF-slim
reference. The paper trains 50 replicas of batch 32 asynchronously; ours is one
synchronous batch of 256 at the same learning rate. Real data: tfds imagenet2012 from
--config.data.dir; start from Keras weights with `python -m zoo.models.convert` and
--config.init_from.
"""
from experiments import _classification

VARIANTS = {
    "synthetic": "Inception-v3 on the embedded textured-shapes stand-in (80x80, 10 classes); minutes on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}
SWITCHES = _classification.SWITCHES


def get_config(arg=None):
  config = _classification.base_config(name="inception_v3", dropout_rate=0.2, aux_logits=True,
                                       bn_momentum=0.9997, bn_epsilon=1e-3, remat=False)
  config.input_normalization = "inception"
  config.aux_loss_weight = 0.4
  config.label_smoothing = 0.1
  # Evaluation: the central 87.5% of the image (TF-slim's central_fraction), i.e. the
  # shorter side resized to 299 / 0.875 = 342 pixels: the base config's resize_ratio.
  config.data.update(dict(image_size=299, train_crop="resized"))
  config.num_epochs = 100.0
  config.optimizer.update(dict(name="rmsprop", momentum=0.9, weight_decay=4e-5,
                               grad_clip_norm=2.0, rmsprop_decay=0.9, rmsprop_eps=1.0))
  config.schedule.update(dict(name="exponential", base_lr=0.045, decay_epochs=(2.0,),
                              decay_factor=0.94))
  config.ema_decay = 0.9999
  if arg in ("synthetic", "smoke"):
    _classification.use_stand_in(config, image_size=80, num_epochs=2.0)
    config.model.bn_momentum = 0.99  # running statistics must settle within a few hundred steps
    config.optimizer.grad_clip_norm = 0.0
  if arg == "smoke":
    config.data.image_size = 75  # the smallest input the network takes
    _classification.use_smoke(config)
  return config
