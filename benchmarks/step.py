"""Benchmark harness for the train step of an experiment.

  python -m benchmarks.step --experiment=NAME[:ARG] [--steps=N] [--config.a.b=V ...]

Measures, on the devices at hand: compile time; step time (median and 10th/90th
percentiles over `--steps` timed steps after warm-up, one fixed batch, so the input
pipeline is not in it); examples/s per device; XLA's FLOPs per step (cost analysis) and
model FLOPs utilisation against `--peak_tflops` (per device; known GPUs are filled in);
peak host and device memory; and the input pipeline alone (grain decode + augment +
batch, no model) in examples/s, as a ratio to what the step consumes. Writes
`OUT/NAME_ARG.json` and `.md` and prints the Markdown table.
"""
import resource
import sys
import time

import numpy as np
from absl import app, flags

from benchmarks import harness
from launch import compilation_cache, malloc, writers
from launch.overrides import split_overrides

flags.DEFINE_string("experiment", None, "NAME[:ARG], as for launch.run.")
flags.DEFINE_integer("steps", 10, "Timed train steps.")
flags.DEFINE_integer("warmup", 2, "Untimed steps after compiling.")
flags.DEFINE_enum("malloc", "mimalloc", malloc.CHOICES, malloc.FLAG_HELP)
flags.DEFINE_integer("input_batches", 20, "Batches timed from the input pipeline alone.")
flags.DEFINE_float("peak_tflops", 0.0, "Peak dense TFLOP/s of one device for MFU "
                   "(0: from the table of known devices, else MFU is not reported).")
flags.DEFINE_string("out", "bench", "Folder for the JSON and Markdown results.")
FLAGS = flags.FLAGS

# Dense bf16 tensor-core peaks per device (vendor datasheets, SXM parts).
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def _peak_tflops(device_kind: str):
  if FLAGS.peak_tflops:
    return FLAGS.peak_tflops
  return next((v for k, v in PEAK_TFLOPS.items() if k in device_kind), None)


def measure(config):
  import jax
  from launch.train import Setup

  x = Setup(config)
  devices = x.devices
  iterator = x.train_iterator()
  batch = x.to_device(next(iterator))
  state = x.init_state()

  start, cache_counts = time.perf_counter(), compilation_cache.counts()
  compiled = x.jit_train_step().lower(state, batch, x.train_rng).compile()
  compile_s = time.perf_counter() - start
  compiled_from = compilation_cache.describe_since(cache_counts)
  for _ in range(FLAGS.warmup):
    state, metrics = compiled(state, batch, x.train_rng)
  jax.block_until_ready((state, metrics) if FLAGS.warmup else state)
  times = []
  for _ in range(FLAGS.steps):
    start = time.perf_counter()
    state, metrics = compiled(state, batch, x.train_rng)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - start)
  step_s = float(np.median(times))

  local_batch = config.batch_size // x.process_count
  next(iterator)  # the pipeline's threads are warm; time it alone now
  start = time.perf_counter()
  for _ in range(FLAGS.input_batches):
    next(iterator)
  input_examples_s = FLAGS.input_batches * local_batch / (time.perf_counter() - start)

  flops = harness.xla_flops(compiled)  # of the per-device program
  peak = _peak_tflops(devices[0].device_kind)
  memory = devices[0].memory_stats() or {}
  consumed = local_batch / step_s  # examples/s this process's step takes in
  return {
      "experiment": config.experiment, "backend": jax.default_backend(),
      "device_kind": devices[0].device_kind, "devices": len(devices),
      "batch_size": config.batch_size, "dtype": config.model.get("dtype", "float32"),
      "stand_in_data": bool(x.data_module.STAND_IN),
      "compile_s": compile_s, "compiled_from": compiled_from, "step_s_median": step_s,
      "step_s_p10": float(np.percentile(times, 10)), "step_s_p90": float(np.percentile(times, 90)),
      "examples_per_s_per_device": config.batch_size / step_s / len(devices),
      "flops_per_step_per_device": flops,
      "tflops_per_s_per_device": flops / step_s / 1e12 if flops else None,
      "mfu": flops / step_s / (peak * 1e12) if flops and peak else None,
      "peak_host_memory_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
      "peak_device_memory_gib": memory.get("peak_bytes_in_use", 0) / 2**30 or None,
      "input_examples_per_s": input_examples_s,
      "input_to_step_ratio": input_examples_s / consumed,
  }


def markdown(r) -> str:
  def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)
  return "\n".join([
      "| experiment | device | batch | compile s | step s (p10–p90) | ex/s/device | "
      "GFLOP/step/device | MFU | host GiB | device GiB | input ex/s | input/step |",
      "|---|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
      f"| {r['experiment']} | {r['devices']}x {r['device_kind']} | {r['batch_size']} | "
      f"{r['compile_s']:.1f}{' (cache)' if r.get('compiled_from') == 'cache' else ''} | "
      f"{r['step_s_median']:.3f} ({r['step_s_p10']:.3f}–"
      f"{r['step_s_p90']:.3f}) | {r['examples_per_s_per_device']:.1f} | "
      f"{fmt(r['flops_per_step_per_device'] and r['flops_per_step_per_device'] / 1e9, '.1f')} | "
      f"{fmt(r['mfu'], '.1%')} | {r['peak_host_memory_gib']:.1f} | "
      f"{fmt(r['peak_device_memory_gib'], '.1f')} | {r['input_examples_per_s']:.0f} | "
      f"{r['input_to_step_ratio']:.1f}x |"])


def main(overrides):
  from launch import config as config_lib
  writers.quiet_library_logs()
  try:
    config = config_lib.resolve(FLAGS.experiment or "", overrides)
  except config_lib.ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  compilation_cache.enable_from_flags()  # compile_s is then the cache's read time
  results = measure(config)
  harness.write_report(FLAGS.out, config.experiment.replace(":", "_"), results,
                       markdown(results))


if __name__ == "__main__":
  malloc.reexec()
  app.run(main, flags_parser=split_overrides)
