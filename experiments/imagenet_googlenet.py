"""GoogLeNet (Szegedy et al., CVPR 2015; ILSVRC 2014 winner) on ImageNet.

Default, from the paper: SGD momentum 0.9, learning rate decreased by 4% every 8
epochs, Polyak averaging of the weights (EMA) for the final model, crops of 8%-100% of
the image area with aspect ratio 3/4-4/3, photometric distortions (colour jitter),
dropout 0.4 before the classifier, two auxiliary classifiers weighted 0.3. The paper
gives neither the base learning rate, the batch size nor the epoch count: ours are 0.04
at batch 256 (0.01 at Caffe's batch 64, scaled linearly), 90 epochs and weight decay
2e-4 (as the BVLC Caffe model). Real data: tfds imagenet2012 from --config.data.dir.
"""
from experiments import _classification

VARIANTS = {
    "synthetic": "GoogLeNet on the embedded textured-shapes stand-in (64x64, 10 classes); minutes on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}
SWITCHES = _classification.SWITCHES


def get_config(arg=None):
  config = _classification.base_config(name="googlenet", dropout_rate=0.4, aux_dropout_rate=0.7,
                                       aux_logits=True, lrn=True, batch_norm=False,
                                       bn_momentum=0.9, bn_epsilon=1e-5, remat=False)
  config.aux_loss_weight = 0.3
  config.data.update(dict(train_crop="resized", color_jitter=0.4))
  config.optimizer.weight_decay = 2e-4
  config.schedule.update(dict(name="exponential", base_lr=0.04, decay_epochs=(8.0,),
                              decay_factor=0.96))
  config.ema_decay = 0.9999
  if arg in ("synthetic", "smoke"):
    _classification.use_stand_in(config, image_size=64, num_epochs=3.0)
    # Without batch norm GoogLeNet stays near chance for the first few hundred steps on the
    # stand-in (Adam at 1e-3 and 3e-4 alike); BN-Inception's batch norm gets it moving.
    config.model.batch_norm = True
  if arg == "smoke":
    _classification.use_smoke(config)
  return config
