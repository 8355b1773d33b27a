"""The config both relative-aesthetics trainings start from (Gattupalli, Chandakkar and Li,
ICPR 2016; RAPID columns, Lu et al. 2014): AVA pairs by the paper's rules, the RAPID
column at its tabulated size, evaluated four ways. `relative=False` gives the binary
baseline. Not an experiment itself (the leading underscore keeps it out of `--list`).

The paper gives neither its optimizer nor delta; we use RAPID's Caffe-style SGD (0.001,
momentum 0.9, weight decay 5e-4) and delta = 1.
"""
import ml_collections


def _eval(type_, split, **fields):
  return ml_collections.ConfigDict(dict(type=type_, split=split, **fields))


def evals(relative: bool, pictures: int = 8) -> ml_collections.ConfigDict:
  """The four tests of the paper's table, named as `zoo.evaluators.aesthetics_table` expects.
  The relative network's threshold is chosen on validation images; the binary one uses
  its softmax decision."""
  threshold_split = "validation_images" if relative else ""
  return ml_collections.ConfigDict(dict(
      ranking_custom=_eval("ranking", "test_pairs", pictures=pictures),
      ranking_standard=_eval("ranking", "standard_test_pairs", pictures=pictures),
      classification_custom=_eval("score_classification", "test_images",
                                  threshold_split=threshold_split),
      classification_standard=_eval("score_classification", "standard_test_images",
                                    threshold_split=threshold_split)))


def base_config(relative: bool = True) -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.experiment = ""  # filled in by the launcher
  config.seed = 0
  config.cpu_convolutions = "eigen"
  config.task = "relative_ranking"
  config.model = ml_collections.ConfigDict(dict(
      name="rapid", head="relative" if relative else "binary", conv_features=64,
      fc_features=(1000, 256), dropout_rate=0.5, dtype="float32", param_dtype="float32",
      conv_matmul_grads="auto"))
  config.data = ml_collections.ConfigDict(dict(
      name="ava",
      dir=ml_collections.FieldReference(""),  # shared with stages (aesthetics_table)
      train_split="train_pairs" if relative else "train_images",
      image_size=230, local_size=230,  # the global view (whole image) and the native crop
      random_flip=True,
      seed=0,  # the image split and the pairs
      validation_fraction=0.05, test_fraction=0.05,  # of the non-standard-test images
      min_rating_gap=1.0, max_vote_variance=2.6, pair_category="challenge",  # challenge | tag
      pairs_per_image=4, label_threshold=5.0,
      num_threads=16, prefetch_batches=4, prefetch_to_device=2, max_bad_fraction=0.001,
      # the stand-in (zoo.data.ava_stand_in) only:
      num_train=0, num_eval=0, stand_in_shape=(120, 160), controversial_fraction=0.15))
  config.input_normalization = "imagenet"
  config.margin = 1.0  # delta of the hinge max(0, delta - y d)
  config.batch_size = 64  # pairs (relative) or images (binary)
  config.eval_batch_size = 128
  config.num_epochs = 20.0
  config.total_steps = None
  config.optimizer = ml_collections.ConfigDict(dict(
      name="sgd", momentum=0.9, nesterov=False, weight_decay=5e-4, grad_clip_norm=0.0,
      rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.9, adam_b2=0.999))
  config.schedule = ml_collections.ConfigDict(dict(
      name="step", base_lr=0.001, warmup_epochs=0.0, decay_epochs=(10.0, 15.0),
      decay_factor=0.1))
  config.ema_decay = 0.0
  config.evals = evals(relative)
  config.log_every_steps = 100
  config.eval_every_steps = 0
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  config.init_from = ""
  return config


def use_stand_in(config, *, smoke: bool = False):
  """The embedded stand-in (AVA's format, written once under data.dir): small views and
  narrow columns, minutes on two CPU cores; `smoke`: seconds."""
  config.data.update(dict(
      name="ava_stand_in", image_size=64, local_size=64, num_threads=2,
      num_train=2_400, num_eval=600, validation_fraction=0.15, test_fraction=0.15))
  config.model.update(dict(conv_features=32, fc_features=(128, 64), dropout_rate=0.25))
  config.optimizer.update(dict(name="adam", weight_decay=0.0))
  config.schedule.update(dict(name="cosine", base_lr=5e-4, warmup_epochs=0.2))
  config.batch_size = 32
  config.eval_batch_size = 128
  config.num_epochs = 3.0
  config.log_every_steps = 25
  config.checkpoint_every_steps = 500
  if config.model.head == "binary":
    # As many steps of as many images as the relative run (32 pairs = 64 images, 3 epochs of
    # ~5,600 pairs): the same compute, on every training image rather than the pairs'.
    config.batch_size = 64
    config.num_epochs = 20.0
  if smoke:
    config.data.update(dict(num_train=240, num_eval=60, image_size=40, local_size=40))  # 37 is the least a column takes
    config.model.update(dict(conv_features=8, fc_features=(16, 8)))
    config.batch_size = 8
    config.eval_batch_size = 32
    config.total_steps = 6
    config.log_every_steps = 2
    config.checkpoint_every_steps = 3
    for name in config.evals:
      if "pictures" in config.evals[name]:
        config.evals[name].pictures = 2
  return config
