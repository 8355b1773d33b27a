"""The config every image-classification experiment starts from: each trick is a field
with its "off" (or plainest) value, and each experiment sets its paper's values.

Not an experiment itself (the leading underscore keeps it out of `--list`).
"""
import ml_collections

# Named switches for `python -m launch.sweep --sweep='ema=on,off flip=on,off ...'`.
SWITCHES = {
    "ema": {"on": {"ema_decay": 0.999}, "off": {"ema_decay": 0.0}},
    "flip": {"on": {"data.random_flip": True}, "off": {"data.random_flip": False}},
    "crop": {"random": {"data.train_crop": "random"}, "resized": {"data.train_crop": "resized"},
             "center": {"data.train_crop": "center"}},
    "jitter": {"on": {"data.color_jitter": 0.4}, "off": {"data.color_jitter": 0.0}},
    "tencrop": {"on": {"data.eval_crops": "ten"}, "off": {"data.eval_crops": "center"}},
}


def base_config(**model) -> ml_collections.ConfigDict:
  """ImageNet-shaped defaults; `model` gives `config.model` (name and its fields)."""
  config = ml_collections.ConfigDict()
  config.experiment = ""  # filled in by the launcher
  config.seed = 0
  config.cpu_convolutions = "eigen"  # XLA:CPU's library: eigen | ynnpack (zoo/models/conv.py)
  config.task = "classification"
  config.model = ml_collections.ConfigDict(dict(
      dtype="float32", param_dtype="float32", conv_matmul_grads="auto", **model))

  config.data = ml_collections.ConfigDict(dict(
      name="imagenet", dir="", train_split="train", image_size=224,
      resize_ratio=256 / 224,  # shorter side resized to this times image_size, then cropped
      train_crop="random",   # random | resized (Inception-style) | center
      min_crop_area=0.08,    # smallest share of the image a 'resized' crop covers
      random_flip=True,
      color_jitter=0.0,      # brightness/contrast/saturation strength; 0 = off
      eval_crops="center",   # center | ten (corners, centre and their mirrors, averaged)
      num_threads=16, prefetch_batches=4, prefetch_to_device=2,
      max_bad_fraction=0.001,  # unreadable/invalid records skipped up to this share
      seed=0, num_train=0, num_eval=0))  # used by the stand-ins only

  config.input_normalization = "imagenet"  # imagenet (mean/std) | inception ([-1, 1]) | caffe
  config.batch_size = 256
  config.eval_batch_size = 256
  config.num_epochs = 90.0
  config.total_steps = None  # derived from num_epochs; 0 only evaluates

  config.optimizer = ml_collections.ConfigDict(dict(
      name="sgd", momentum=0.9, nesterov=False, weight_decay=1e-4, grad_clip_norm=0.0,
      rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.9, adam_b2=0.999))
  config.schedule = ml_collections.ConfigDict(dict(
      name="step", base_lr=0.1, warmup_epochs=0.0, decay_epochs=(30.0, 60.0, 80.0),
      decay_factor=0.1))
  config.label_smoothing = 0.0
  config.aux_loss_weight = 0.0  # weight of each auxiliary classifier's loss, if the model has any
  config.ema_decay = 0.0

  config.evals = ml_collections.ConfigDict()
  # ensemble: workdirs (or checkpoints) whose predictions are averaged with this run's.
  config.evals.val = ml_collections.ConfigDict(dict(
      type="classification", split="validation", ensemble=()))

  config.log_every_steps = 100
  config.eval_every_steps = 0  # 0: evaluate at the end only
  config.checkpoint_every_steps = 1000
  config.keep_checkpoints = 3
  # 'METRIC:max' or 'METRIC:min' (e.g. 'val/top1_accuracy:max'): also keep the checkpoint
  # of the best evaluation so far in WORKDIR/best_checkpoint/ (init_from=WORKDIR:best).
  config.keep_best = ""
  # PATH, or SUBTREE=PATH,... to fill sub-trees of the parameters from several runs.
  config.init_from = ""
  config.frozen = ()  # parameter sub-trees that are not trained, e.g. ('conv1', 'conv2')
  return config


def use_stand_in(config, *, image_size: int, num_train: int = 12_800, num_eval: int = 2_000,
                 batch_size: int = 64, num_epochs: float = 6.0):
  """Switches `config` to the embedded textured-shapes stand-in (10 classes), minutes on
  a CPU: a random crop of a slightly larger image (an Inception-style crop can cut the
  shape away), no colour jitter (colour is a nuisance the stand-in already randomises),
  test split, a short schedule, Adam (see each experiment), no weight averaging."""
  config.data.update(dict(name="shapes", image_size=image_size, resize_ratio=9 / 8,
                          num_threads=2,
                          num_train=num_train, num_eval=num_eval,
                          train_crop="random", color_jitter=0.0))
  config.optimizer.update(dict(name="adam", weight_decay=0.0))
  config.schedule.update(dict(name="cosine", base_lr=1e-3, warmup_epochs=0.25))
  config.ema_decay = 0.0
  config.evals.val.split = "test"
  config.batch_size = batch_size
  config.eval_batch_size = 200
  config.num_epochs = num_epochs
  config.log_every_steps = 50
  config.checkpoint_every_steps = 200
  return config


def use_smoke(config, *, batch_size: int = 16):
  """A few steps on tiny stand-in data, for tests (after `use_stand_in`)."""
  config.data.update(dict(num_train=256, num_eval=64))
  config.batch_size = batch_size
  config.eval_batch_size = 32
  config.total_steps = 6
  config.log_every_steps = 2
  config.checkpoint_every_steps = 2
  return config
