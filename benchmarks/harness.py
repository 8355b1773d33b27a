"""What the benchmark programs share: the networks compared with Keras, TensorFlow's
thread pools, and writing a report (`OUT/NAME.json` + `.md`). Imports neither jax nor
TensorFlow at import time: `benchmarks.layers` runs each side in a process of its own."""
import json
import os
import sys

NUM_CLASSES = 1000

# The networks `keras_step` and `layers` compare: our experiment, its image size, Keras
# Applications' class, and our contenders with the overrides that make each.
MODELS = {
    "resnet50": dict(
        experiment="imagenet_resnet50", size=224, keras="ResNet50",
        ours={"ours (v1.5, default)": (),
              "ours, Keras' network (v1, conv biases)": (
                  "model.stride_in_1x1=true", "model.conv_bias=true",
                  "model.bn_epsilon=1.001e-5")}),
    "inception_v3": dict(
        experiment="imagenet_inception_v3", size=299, keras="InceptionV3",
        ours={"ours (no aux head, no dropout)": ("model.aux_logits=false",
                                                 "model.dropout_rate=0.0")}),
}


def tensorflow_on(threads: int):
  """TensorFlow, quiet, with its intra- and inter-op pools of `threads` each."""
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  import tensorflow as tf  # pylint: disable=import-outside-toplevel
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  return tf


def xla_flops(compiled):
  """XLA's cost-analysis FLOPs of a compiled function (its per-device program), or None."""
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return float(cost.get("flops", 0.0)) if cost else None


def write_report(out_dir: str, name: str, results: dict, table: str):
  """`OUT/NAME.json` (the results) and `OUT/NAME.md` (the Markdown table); prints the table."""
  os.makedirs(out_dir, exist_ok=True)
  stem = os.path.join(out_dir, name)
  with open(stem + ".json", "w") as f:
    json.dump(results, f, indent=2)
  with open(stem + ".md", "w") as f:
    f.write(table + "\n")
  print(table)


def measure_and_report(parser, args, overrides, measure_fn, markdown_fn, name):
  """`measure_fn(args, overrides)` with the leftover arguments as `--config.*` overrides
  (anything else, or a bad override, is an error naming it); writes OUT/NAME.json and
  .md and prints the table."""
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  unknown = [a for a in overrides if not a.startswith("--config.")]
  if unknown:
    parser.error(f"unrecognised arguments: {' '.join(unknown)}")
  try:
    results = measure_fn(args, overrides)
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  write_report(args.out, name, results, markdown_fn(results))
