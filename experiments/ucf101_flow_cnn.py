"""Video2Vec's temporal CNN: VGG-F on stacks of L optical-flow fields, trained as a classifier.

The paper pretrains it on UCF Sports, which is not available here: the default trains it on
the training list of prepared UCF101 (`--config.data.dir`; all classes, or
`--config.data.classes`, or with `--config.data.zsl_unseen=N --config.data.zsl_seed=S` the
seen classes of Video2Vec's zero-shot class split S, as `video2vec:zsl` trains it for each
split); `:synthetic` on the motions stand-in
(drawn clips of objects no stand-in video class uses, labelled by motion). Two-stream
settings (Simonyan and Zisserman 2014): L = 10, SGD, dropout; flow input scaled to [-1, 1].
"""
import ml_collections

from experiments import _classification

VARIANTS = {
    "synthetic": "on the motions stand-in (flow of drawn clips, 5 motions), a minute on a CPU",
    "smoke": "a few steps on tiny stand-in data, for tests",
}


def get_config(arg=None):
  config = _classification.base_config(name="vgg_f", fc_features=4096, dropout_rate=0.5,
                                       lrn=True)
  flow_stack = 10
  config.data = ml_collections.ConfigDict(dict(
      name="ucf101_flow", dir="", split_index=1, train_split="train", classes=(),
      zsl_unseen=0, zsl_seed=0,  # > 0: only the seen classes of that zero-shot class split
      image_size=224, resize_size=256, flow_stack=flow_stack, channels=2 * flow_stack,
      max_steps=1, num_threads=8, prefetch_batches=4, prefetch_to_device=2,
      max_bad_fraction=0.01, seed=0))
  config.input_normalization = "inception"  # uint8 flow, 128 = no motion -> [-1, 1]
  config.optimizer.weight_decay = 5e-4
  config.schedule.update(dict(name="step", base_lr=0.01, decay_epochs=(50.0, 70.0)))
  config.num_epochs = 80.0
  config.evals.val.split = "test"

  if arg in ("synthetic", "smoke"):
    flow_stack = 5
    config.data = ml_collections.ConfigDict(dict(
        name="motions", image_size=64, frame_size=(72, 96), fps=10.0, flow_method="farneback",
        flow_stack=flow_stack, channels=2 * flow_stack, num_train=1_280, num_eval=500,
        train_split="train", num_threads=2, prefetch_batches=4, prefetch_to_device=2,
        max_bad_fraction=0.0, seed=0))
    config.model.fc_features = 512
    config.optimizer.update(dict(name="adam", weight_decay=0.0))
    config.schedule.update(dict(name="cosine", base_lr=1e-3, warmup_epochs=0.25))
    config.batch_size, config.eval_batch_size = 64, 100
    config.num_epochs = 6.0
    config.log_every_steps, config.checkpoint_every_steps = 20, 100
  if arg == "smoke":
    config.model.fc_features = 64
    _classification.use_smoke(config)
  return config
