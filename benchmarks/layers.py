"""Each convolution of a zoo network on its own: ours against TensorFlow's, per layer.

  XLA_FLAGS= python -m benchmarks.layers --model=inception_v3|resnet50 [--batch=32]
      [--size=PIXELS] [--repeats=5] [--config.a.b=V ...]

`benchmarks.keras_step` compares whole train steps; this says how much of the difference is
the convolution kernels. Layers: every `zoo.models.conv.Conv` call of the experiment's
network at `--size` (recorded with flax's `intercept_methods`, as `launch.describe` does),
grouped by input shape, kernel, stride, padding and features, with how often each occurs.
Per layer both sides compute the gradient of sum(conv(x, kernel)^2 * r) (r fixed and
random) with respect to the kernel and, except for the layer that reads the image, the
input: one forward pass and both gradients, as a train step needs them. Ours is the zoo's
`conv2d` as the network calls it (matmul gradients, `--config.cpu_convolutions`),
jitted; TensorFlow's is `tf.nn.conv2d` under `tf.function` and a `GradientTape` (oneDNN
on x86), float32 on both sides. Each side runs in a process of its own, one after the
other (sharing a process, each side's spinning worker threads slowed the other's next
layer); each layer is timed `--repeats` times after a warm-up run, the median kept.
Totals weigh each layer by its count. Writes `OUT/layers_MODEL.json` and `.md`.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import harness

_SIDES = ("ours", "tensorflow")


def conv_layers(model_name: str, size: int, overrides=()) -> tuple[list[dict], str]:
  """The distinct convolutions of the model at `size` in call order, with counts; and the
  configured `cpu_convolutions`."""
  import flax.linen as nn
  import jax
  import jax.numpy as jnp
  from launch import config as config_lib
  from zoo.models.conv import Conv, _pair
  from zoo.tasks import classification

  spec = harness.MODELS[model_name]
  own = next(iter(spec["ours"].values()))
  config = config_lib.resolve(spec["experiment"], [*own, *overrides])
  model = classification.build_model(config.model, harness.NUM_CLASSES)
  layers = {}

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, Conv) and context.method_name == "__call__":
      m = context.module
      padding = m.padding if isinstance(m.padding, str) else [list(p) for p in m.padding]
      layer = {"input": list(args[0].shape[1:]), "kernel": list(_pair(m.kernel_size)),
               "stride": list(_pair(m.strides or 1)), "padding": padding,
               "features": m.features, "input_grad": bool(layers)}  # not for the image's
      key = json.dumps(layer, sort_keys=True)
      layers.setdefault(key, dict(layer, count=0))["count"] += 1
    return next_fun(*args, **kwargs)

  image = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  with nn.intercept_methods(record):
    jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), image)
  return list(layers.values()), config.get("cpu_convolutions")


def _arrays(layer, batch, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((batch, *layer["input"]), np.float32)
  kernel = rng.standard_normal((*layer["kernel"], layer["input"][-1], layer["features"]),
                               np.float32) * 0.05
  return x, kernel


def _time(fn, repeats):
  fn()  # warm-up (and compilation)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def time_ours(layers, batch, repeats, cpu_convolutions):
  import jax
  import jax.numpy as jnp
  from zoo.models import conv

  out = []
  for layer in layers:
    x, kernel = _arrays(layer, batch)
    padding = layer["padding"] if isinstance(layer["padding"], str) else \
        tuple(map(tuple, layer["padding"]))
    y = jax.eval_shape(lambda x, k: conv.conv2d(x, k, layer["stride"], padding), x, kernel)
    r = np.random.default_rng(1).standard_normal(y.shape, np.float32)

    def loss(x, k, r):
      return jnp.sum(jnp.square(conv.conv2d(x, k, layer["stride"], padding)) * r)
    grad = jax.jit(jax.grad(loss, (0, 1) if layer["input_grad"] else 1),
                   compiler_options=conv.compiler_options(cpu_convolutions))
    args = [jnp.asarray(a) for a in (x, kernel, r)]
    out.append(_time(lambda: jax.block_until_ready(grad(*args)), repeats))
  return out


def time_tensorflow(layers, batch, repeats):
  tf = harness.tensorflow_on(len(os.sched_getaffinity(0)))
  out = []
  for layer in layers:
    x, kernel = _arrays(layer, batch)
    padding = layer["padding"] if isinstance(layer["padding"], str) else \
        [[0, 0], *layer["padding"], [0, 0]]
    y = tf.nn.conv2d(x[:1], kernel, layer["stride"], padding)
    r = np.random.default_rng(1).standard_normal((batch, *y.shape[1:]), np.float32)
    x, kernel, r = (tf.constant(a) for a in (x, kernel, r))

    @tf.function
    def grad(x, k, r, layer=layer, padding=padding):
      with tf.GradientTape() as tape:
        tape.watch([x, k])
        loss = tf.reduce_sum(tf.square(tf.nn.conv2d(x, k, layer["stride"], padding)) * r)
      return tape.gradient(loss, [x, k] if layer["input_grad"] else [k])
    out.append(_time(lambda: [g.numpy() for g in grad(x, kernel, r)], repeats))
  return out


def _describe(layer) -> str:
  h, w, c = layer["input"]
  kernel, stride = "x".join(map(str, layer["kernel"])), layer["stride"]
  stride = f"/{stride[0]}" if stride[0] == stride[1] and stride[0] > 1 else \
      ("" if stride == [1, 1] else f"/{stride}")
  padding = layer["padding"]
  if not isinstance(padding, str):
    flat = {p for pair in padding for p in pair}
    padding = f"pad {flat.pop()}" if len(flat) == 1 else f"pad {padding}"
  return f"{kernel}{stride} {c}->{layer['features']} {padding}, {h}x{w}"


def markdown(r) -> str:
  lines = [
      f"{r['model']}: every convolution of the network at {r['image_size']}x{r['image_size']}, "
      f"batch {r['batch_size']}, float32, forward + gradients; median of {r['repeats']} runs, "
      f"{r['threads']} threads, each side in its own process. Ours: {r['ours']}; "
      f"TensorFlow: {r['tensorflow']}.",
      "",
      "| convolution | count | ours ms | TensorFlow ms | ours vs TensorFlow |",
      "|---|---:|---:|---:|---:|"]
  for row in r["layers"]:
    lines.append(f"| {_describe(row)}{'' if row['input_grad'] else ' (no input grad)'} | "
                 f"{row['count']} | {row['ours_ms']:.1f} | {row['tensorflow_ms']:.1f} | "
                 f"{row['tensorflow_ms'] / row['ours_ms']:.2f}x |")
  lines.append(f"| **all, weighted by count** | {sum(x['count'] for x in r['layers'])} | "
               f"**{r['ours_ms']:.0f}** | **{r['tensorflow_ms']:.0f}** | **{r['ratio']:.2f}x** |")
  return "\n".join(lines)


def _side(args):
  """Child process: times one side's layers, writes their seconds as JSON."""
  with open(args.layers) as f:
    spec = json.load(f)
  if args.side == "ours":
    import jax
    seconds = time_ours(spec["layers"], args.batch, args.repeats, spec["cpu_convolutions"])
    framework = f"jax {jax.__version__}, conv2d, cpu_convolutions={spec['cpu_convolutions']}"
  else:
    import tensorflow as tf
    seconds = time_tensorflow(spec["layers"], args.batch, args.repeats)
    framework = f"tensorflow {tf.__version__}, tf.nn.conv2d"
  with open(args.result, "w") as f:
    json.dump({"seconds": seconds, "framework": framework}, f)


def measure(args, overrides=()) -> dict:
  size = args.size or harness.MODELS[args.model]["size"]
  layers, cpu_convolutions = conv_layers(args.model, size, overrides)
  results = {}
  with tempfile.TemporaryDirectory() as tmp:
    spec = os.path.join(tmp, "layers.json")
    with open(spec, "w") as f:
      json.dump({"layers": layers, "cpu_convolutions": cpu_convolutions}, f)
    for side in _SIDES:
      result = os.path.join(tmp, f"{side}.json")
      proc = subprocess.run(
          [sys.executable, "-m", "benchmarks.layers", f"--side={side}", f"--layers={spec}",
           f"--result={result}", f"--batch={args.batch}", f"--repeats={args.repeats}"],
          capture_output=True, text=True)
      if proc.returncode:
        raise RuntimeError(f"the {side} side failed:\n{proc.stderr[-3000:]}")
      with open(result) as f:
        results[side] = json.load(f)
  for layer, ours, theirs in zip(layers, results["ours"]["seconds"],
                                 results["tensorflow"]["seconds"]):
    layer.update(ours_ms=ours * 1e3, tensorflow_ms=theirs * 1e3)
  total = {side: sum(x["count"] * x[f"{side}_ms"] for x in layers) for side in _SIDES}
  return {"model": args.model, "image_size": size, "batch_size": args.batch,
          "repeats": args.repeats, "threads": len(os.sched_getaffinity(0)),
          "overrides": list(overrides), "ours": results["ours"]["framework"],
          "tensorflow": results["tensorflow"]["framework"], "layers": layers,
          "ours_ms": total["ours"], "tensorflow_ms": total["tensorflow"],
          "ratio": total["tensorflow"] / total["ours"]}


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", choices=sorted(harness.MODELS))
  parser.add_argument("--batch", type=int, default=32)
  parser.add_argument("--size", type=int, default=0,
                      help="input pixels per side (0: the network's own, 224 / 299)")
  parser.add_argument("--repeats", type=int, default=5, help="timed runs per layer and side")
  parser.add_argument("--out", default="bench", help="folder for the JSON and Markdown")
  parser.add_argument("--side", choices=_SIDES, help=argparse.SUPPRESS)  # child processes
  parser.add_argument("--layers", help=argparse.SUPPRESS)
  parser.add_argument("--result", help=argparse.SUPPRESS)
  args, overrides = parser.parse_known_args(argv)
  if args.side:
    return _side(args)
  if not args.model:
    parser.error("--model is required")
  harness.measure_and_report(parser, args, overrides, measure, markdown,
                                 f"layers_{args.model}")


if __name__ == "__main__":
  main()
