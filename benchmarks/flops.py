"""Per-device XLA FLOPs of an experiment's compiled train step on 1 and on N devices.

  python -m benchmarks.flops --experiment=NAME[:ARG] [--devices=1,8] [--config.a.b=V ...]

Each device count runs in a process of its own (fake CPU devices,
`--xla_force_host_platform_device_count`); the step is compiled, not run, and XLA's cost
analysis of the per-device program is read as `benchmarks.step` reports it. With the
batch split along `data`, N devices should each do about 1/N of one device's work:
the table shows whether a task's step does (for GANs: the generated samples too).
"""
import json
import os
import subprocess
import sys

from absl import app, flags

from benchmarks import harness
from launch import writers
from launch.overrides import split_overrides

flags.DEFINE_string("experiment", None, "NAME[:ARG], as for launch.run.")
flags.DEFINE_list("devices", ["1", "8"], "Device counts to compare.")
flags.DEFINE_bool("child", False, "Internal: measure on this process's devices.")
FLAGS = flags.FLAGS


def step_flops(config) -> float:
  """XLA's FLOPs of the per-device program of the compiled train step."""
  import jax  # pylint: disable=import-outside-toplevel
  from launch.train import Setup  # pylint: disable=import-outside-toplevel
  x = Setup(config)
  batch = x.to_device(next(x.train_iterator()))
  state = jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s),
                       x.abstract_state, x.state_sharding)
  return harness.xla_flops(x.jit_train_step().lower(state, batch, x.train_rng).compile())


def main(overrides):
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  writers.quiet_library_logs()
  if FLAGS.child:
    print(json.dumps({"flops": step_flops(config_lib.resolve(FLAGS.experiment, overrides))}))
    return
  flops = {}
  for n in map(int, FLAGS.devices):
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n}")
    out = subprocess.run([sys.executable, "-m", "benchmarks.flops", "--child",
                          f"--experiment={FLAGS.experiment}"]
                         + list(overrides),
                         env=env, capture_output=True, text=True, check=False)
    if out.returncode:
      sys.exit(f"{n} devices: {out.stderr[-2000:]}")
    flops[n] = json.loads(out.stdout.strip().splitlines()[-1])["flops"]
  one = flops[min(flops)]
  print(f"| {FLAGS.experiment} | " + " | ".join(
      f"{n}: {f / 1e6:.1f} MFLOP ({f / one:.3f})" for n, f in flops.items()) + " |")


if __name__ == "__main__":
  app.run(main, flags_parser=split_overrides)
