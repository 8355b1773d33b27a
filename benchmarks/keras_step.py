"""Our train step side by side with Keras 3's, in one process on the same CPU.

  XLA_FLAGS= python -m benchmarks.keras_step --model=resnet50|inception_v3 [--batch=32]
      [--repeats=5] [--warmup=1] [--size=PIXELS] [--config.a.b=V ...]

Ours: the experiment's train step (`imagenet_resnet50` / `imagenet_inception_v3`) built
by `launch.train.Setup`, as `benchmarks.step` times it. Keras: `keras.applications.ResNet50`
/ `InceptionV3` (weights=None, 1000 classes), TensorFlow backend, compiled with SGD and
sparse categorical cross-entropy and run with `train_on_batch` on TensorFlow's own
kernels (`jit_compile=False`, oneDNN), and with `--keras_xla` also through XLA
(`jit_compile=True`); the faster is the reference. TensorFlow's XLA was the slower in
every run measured (0.4-0.9x), and steps taken right after its steps ran ours 1.5x slower
than alone, pauses or not, so it is left out unless asked for.

Like for like: the same batch (random pixels and labels) at the same resolution (224 /
299), float32, 1000 classes, SGD momentum 0.9 at a constant learning rate, no weight
decay, gradient clipping, label smoothing or EMA on either side. Keras' InceptionV3 has
no auxiliary classifier and no dropout, so ours runs without them here (the paper trains
with both). Keras' ResNet50 is v1 (stride in the first 1x1, convolutions with biases),
ours v1.5; `ours, Keras' network` is ours switched to v1 with biases (`stride_in_1x1`,
`conv_bias`), the same network as Keras' and so the fairest pair. Keras is fed
normalised float32 tensors already in TensorFlow; ours takes the uint8 batch already on
the device and normalises in the step. Neither side moves data from the host while timed.

After each side has compiled (its first step, timed as such) and run `--warmup` steps,
the sides run one step each in turn, `--repeats` times, so load from other processes on
a shared machine falls on all of them alike; each step is waited for (ours:
`block_until_ready`; Keras: `train_on_batch` returns the loss as a number), then the
process idles `--pause` seconds: worker threads that spin after a step (TensorFlow's and
XLA's pools both do) would otherwise take cores from the next contender's step (ours
took 5.8 s per Inception-v3 step alone and 6.1-7.0 s right after Keras steps without a
pause; with one, as fast as alone in that session; a later one measured ours at 6.8-7.0 s
here against 5.5-5.7 s alone, the difference being system time for page faults, see
BENCHMARKS.md). Each contender in a process of its own, tried too,
ran ours at 6.3 s against 5.4 s here (Keras' process idle beside it; not understood), so
the sides share one process. Both run under the allocator `launch/malloc.py` chooses
(mimalloc; `--malloc=system` for glibc's): the table's header names it, and its last
columns give each contender's page faults and user / system CPU seconds per step. TensorFlow's intra- and inter-op pools are set to the cores
this process may use, the size XLA's CPU client gives its own pool by default. Writes `OUT/keras_MODEL.json` and `.md` and prints
the Markdown table. `--config.*` overrides apply to our side only.
"""
import argparse
import os
import resource
import time
import types

import jax
import numpy as np

from benchmarks.harness import MODELS, NUM_CLASSES, measure_and_report, tensorflow_on
from launch import config as config_lib
from launch import compilation_cache, malloc
from launch.train import Setup

LEARNING_RATE = 0.01

# Overrides that make our step do the work Keras' does (see the module docstring).
_LIKE_FOR_LIKE = (
    "model.dtype=float32", "model.param_dtype=float32",
    "optimizer.name=sgd", "optimizer.momentum=0.9", "optimizer.nesterov=false",
    "optimizer.weight_decay=0.0", "optimizer.grad_clip_norm=0.0",
    "schedule.name=constant", f"schedule.base_lr={LEARNING_RATE}", "schedule.warmup_epochs=0.0",
    "label_smoothing=0.0", "ema_decay=0.0", "aux_loss_weight=0.0")

def _count(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))


class Ours:
  """Our jitted train step on a fixed batch, state donated from step to step."""

  def __init__(self, name, config, images, labels):
    self.name, self.framework = name, f"jax {jax.__version__}"
    x = Setup(config)
    # The stand-in data has 10 classes; Keras builds an ImageNet head of 1000.
    x.task = type(x.task)(config, data=types.SimpleNamespace(NUM_CLASSES=NUM_CLASSES),
                          steps_per_epoch=x.steps_per_epoch, total_steps=x.total_steps)
    x.abstract_state = jax.eval_shape(x.task.init, x.init_rng)
    x.state_sharding = jax.tree.map(lambda _: x.replicated, x.abstract_state)
    self.batch = x.to_device({"image": images, "label": labels})
    self.rng, self.state = x.train_rng, x.init_state()
    self.params = _count(self.state.params)
    self.input_shape = list(self.batch["image"].shape)
    start, cache_counts = time.perf_counter(), compilation_cache.counts()
    self.compiled = x.jit_train_step().lower(self.state, self.batch, self.rng).compile()
    self.compile_s = time.perf_counter() - start
    self.compiled_from = compilation_cache.describe_since(cache_counts)
    cost = self.compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    self.flops = float(cost["flops"]) if cost and "flops" in cost else None

  def step(self):
    self.state, metrics = self.compiled(self.state, self.batch, self.rng)
    jax.block_until_ready((self.state, metrics))


class Keras:
  """A Keras Applications network and its compiled `train_on_batch`."""

  def __init__(self, name, builder, jit_compile, images, labels):
    import keras
    import tensorflow as tf
    keras.utils.set_random_seed(0)
    self.name = name
    self.framework = f"keras {keras.__version__} / tensorflow {tf.__version__}"
    self.model = builder(weights=None, classes=NUM_CLASSES, input_shape=images.shape[1:])
    self.model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9),
                       loss=keras.losses.SparseCategoricalCrossentropy(),
                       jit_compile=jit_compile)
    self.x = tf.constant(images.astype(np.float32) / 127.5 - 1.0)
    self.y = tf.constant(labels)
    self.params = _count(self.model.trainable_weights)
    self.input_shape = list(self.x.shape)
    self.compile_s, self.flops = 0.0, None  # Keras compiles within its first step
    self.compiled_from = None

  def step(self):
    float(self.model.train_on_batch(self.x, self.y))


def _configure_tensorflow(threads: int):
  os.environ.setdefault("KERAS_BACKEND", "tensorflow")
  tensorflow_on(threads)
  import keras
  if keras.backend.backend() != "tensorflow":
    raise SystemExit(f"KERAS_BACKEND={keras.backend.backend()}: this compares against "
                     "Keras on TensorFlow; unset it")
  return keras


def measure(args, overrides=()):
  """Builds every contender, then times them in turn; returns the results as a dict."""
  spec = MODELS[args.model]
  size = args.size or spec["size"]
  threads = len(os.sched_getaffinity(0))
  compilation_cache.enable(args.compilation_cache_dir)
  keras = _configure_tensorflow(threads)
  load_before = os.getloadavg()[0]
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (args.batch, size, size, 3), dtype=np.uint8)
  labels = rng.integers(0, NUM_CLASSES, (args.batch,)).astype(np.int32)

  contenders = []
  for name, own in spec["ours"].items():
    data = ("data.name=shapes", f"data.image_size={size}", f"data.num_train={args.batch}",
            f"batch_size={args.batch}", f"eval_batch_size={args.batch}")
    config = config_lib.resolve(spec["experiment"],
                                [*_LIKE_FOR_LIKE, *data, *own, *overrides])
    contenders.append(Ours(name, config, images, labels))
  builder = getattr(keras.applications, spec["keras"])
  for jit in (False, True) if args.keras_xla else (False,):
    contenders.append(Keras(f"Keras {spec['keras']} (jit_compile={jit})", builder, jit,
                            images, labels))

  usage = {c.name: [] for c in contenders}  # (page faults, user s, system s) per timed step

  def timed_step(c, record=False):
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    c.step()
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    if record:
      usage[c.name].append((after.ru_minflt - before.ru_minflt, after.ru_utime - before.ru_utime,
                            after.ru_stime - before.ru_stime))
    time.sleep(args.pause)
    return seconds

  first, times = [timed_step(c) for c in contenders], {c.name: [] for c in contenders}
  for _ in range(args.warmup):
    for c in contenders:
      timed_step(c)
  for _ in range(args.repeats):
    for c in contenders:
      times[c.name].append(timed_step(c, record=True))

  rows = []
  for c, first_s in zip(contenders, first):
    step_s = float(np.median(times[c.name]))
    rows.append({
        "name": c.name, "framework": c.framework, "side": "ours" if isinstance(c, Ours) else "keras",
        "trainable_params": c.params, "input_shape": c.input_shape,
        "compile_s": c.compile_s, "compiled_from": c.compiled_from, "first_step_s": first_s,
        "step_s_median": step_s, "step_s_p10": float(np.percentile(times[c.name], 10)),
        "step_s_p90": float(np.percentile(times[c.name], 90)),
        "examples_per_s": args.batch / step_s, "flops_per_step": c.flops,
        **dict(zip(("page_faults", "user_s", "system_s"),
                   np.median(np.array(usage[c.name]), axis=0).tolist()))})
  keras_best = max((r for r in rows if r["side"] == "keras"), key=lambda r: r["examples_per_s"])
  for r in rows:
    r["ratio_to_keras"] = r["examples_per_s"] / keras_best["examples_per_s"]
  return {
      "model": args.model, "batch_size": args.batch, "image_size": size, "dtype": "float32",
      "num_classes": NUM_CLASSES, "backend": jax.default_backend(), "devices": jax.device_count(),
      "threads": threads, "xla_flags": os.environ.get("XLA_FLAGS", ""),
      "allocator": malloc.active(),
      "overrides": list(overrides),
      "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0",
      "repeats": args.repeats, "warmup": args.warmup, "pause_s": args.pause,
      "load_average": [load_before, os.getloadavg()[0]],
      "keras_reference": keras_best["name"], "contenders": rows,
      "ratio": next(r for r in rows if r["side"] == "ours")["ratio_to_keras"],
  }


def markdown(r) -> str:
  lines = [
      f"{r['model']}: batch {r['batch_size']}, {r['image_size']}x{r['image_size']}, "
      f"{r['dtype']}, {r['num_classes']} classes, {r['devices']}x {r['backend']}, "
      f"{r['threads']} threads on each side, XLA_FLAGS='{r['xla_flags']}', allocator "
      f"{r['allocator']}; median of {r['repeats']} steps taken in turn "
      f"after {r['warmup']} warm-up, {r['pause_s']:g} s idle after each; load average {r['load_average'][0]:.1f} -> "
      f"{r['load_average'][1]:.1f}. Reference: {r['keras_reference']}.",
      "",
      "| contender | framework | trainable params | GFLOP/step (XLA) | compile + first step s "
      "| step s (p10–p90) | ex/s | vs Keras | page faults/step | user s | system s |",
      "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|"]
  for c in r["contenders"]:
    flops = "n/a" if c["flops_per_step"] is None else f"{c['flops_per_step'] / 1e9:.0f}"
    lines.append(
        f"| {c['name']} | {c['framework']} | {c['trainable_params']:,} | {flops} | "
        f"{c['compile_s'] + c['first_step_s']:.1f} | {c['step_s_median']:.2f} "
        f"({c['step_s_p10']:.2f}–{c['step_s_p90']:.2f}) | {c['examples_per_s']:.2f} | "
        f"{c['ratio_to_keras']:.2f}x | {c['page_faults']:,.0f} | {c['user_s']:.1f} | "
        f"{c['system_s']:.1f} |")
  return "\n".join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", choices=sorted(MODELS), required=True)
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--size", type=int, default=0,
                      help="input pixels per side (0: the network's own, 224 / 299)")
  parser.add_argument("--repeats", type=int, default=5, help="timed steps per contender")
  parser.add_argument("--warmup", type=int, default=1, help="untimed steps after the first")
  parser.add_argument("--keras_xla", action="store_true",
                      help="also time Keras with jit_compile=True (TensorFlow's XLA)")
  parser.add_argument("--pause", type=float, default=2.0,
                      help="seconds idle after each step (see the module docstring)")
  parser.add_argument("--out", default="bench", help="folder for the JSON and Markdown")
  parser.add_argument("--malloc", choices=malloc.CHOICES, help=malloc.FLAG_HELP)
  parser.add_argument("--compilation_cache_dir", default=compilation_cache.default_dir(),
                      help="JAX's persistent compilation cache for our step (empty: off)")
  args, overrides = parser.parse_known_args(argv)
  measure_and_report(parser, args, overrides, measure, markdown, f"keras_{args.model}")


if __name__ == "__main__":
  malloc.reexec()
  main()
