"""Entry point of the zoo.

  python -m launch.run --experiment=NAME[:ARG] --workdir=DIR [--config.a.b=VALUE ...]
  python -m launch.run --list
  python -m launch.run --experiment=NAME[:ARG] --describe [--config.a.b=VALUE ...]
  python -m launch.run --experiment=NAME[:ARG] --workdir=DIR --stage=NAME  (one prerequisite)
  python -m launch.run --experiment=NAME[:ARG] --print_config [--config.a.b=VALUE ...]

Multi-host: pass --coordinator_address/--num_processes/--process_id (or set
JAX_COORDINATOR_ADDRESS, or run under a cluster jax.distributed detects).
"""
import os
import sys

from absl import app, flags, logging

from launch import compilation_cache, malloc, writers
from launch.overrides import split_overrides

flags.DEFINE_string("experiment", None, "NAME[:ARG]: a file in experiments/ and its variant.")
flags.DEFINE_string("workdir", None, "Where checkpoints, metrics and results go.")
flags.DEFINE_bool("list", False, "List every experiment and variant, then exit.")
flags.DEFINE_bool("describe", False, "Print the network of the experiment's config layer by "
                  "layer (kernel, stride, padding, output shape, parameters, FLOPs), then exit.")
flags.DEFINE_string("stage", None, "Run only this prerequisite stage of the experiment "
                    "(prepared data, a pretrained network, features), then exit.")
flags.DEFINE_bool("print_config", False, "Print the experiment's resolved config (overrides "
                  "applied), one KEY=VALUE line per setting, then exit.")
flags.DEFINE_bool("restart", False, "If the workdir holds another experiment's run, archive "
                  "it into WORKDIR/archived/ and start afresh (default: refuse).")
flags.DEFINE_string("coordinator_address", None, "host:port of process 0 (multi-process runs).")
flags.DEFINE_integer("num_processes", None, "Number of processes (multi-process runs).")
flags.DEFINE_integer("process_id", None, "This process's index (multi-process runs).")
flags.DEFINE_enum("malloc", "mimalloc", malloc.CHOICES, malloc.FLAG_HELP)
FLAGS = flags.FLAGS


def _fail(message: str, hard: bool = False):
  if not hard:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)
  # After a failed run orbax's I/O threads may still be printing tracebacks (and tqdm may
  # have left a line open): write the message as one write() on a line of its own, then
  # skip the interpreter teardown, where those threads print more.
  sys.stdout.flush()
  sys.stderr.flush()
  os.write(2, f"\nerror: {message}\n".encode())
  os._exit(2)


def main(overrides):
  writers.quiet_library_logs()
  from launch import config as config_lib  # after flag parsing: keeps --help fast
  if FLAGS.list:
    print(config_lib.list_experiments())
    return
  if not FLAGS.experiment:
    _fail("--experiment=NAME[:ARG] is required (see --list)")
  try:
    config = config_lib.resolve(FLAGS.experiment, overrides)
  except config_lib.ConfigError as e:
    _fail(str(e))
  if FLAGS.print_config:
    print(config_lib.format_config(config))
    return
  if FLAGS.describe:
    from launch import describe
    try:
      print(describe.format_table(*describe.describe(config)))
    except ValueError as e:  # e.g. a model field with a bad value
      _fail(str(e))
    return
  if not FLAGS.workdir:
    _fail("--workdir=DIR is required")
  if config.get("total_steps") == 0 and not config.get("init_from") and \
      not _has_checkpoint(FLAGS.workdir):
    _fail(f"--config.total_steps=0 only evaluates, but --workdir={FLAGS.workdir} holds no "
          "checkpoint; name the weights with --config.init_from=PATH (or check the path)")

  import jax
  cache = compilation_cache.enable_from_flags()
  if FLAGS.coordinator_address or os.environ.get("JAX_COORDINATOR_ADDRESS"):
    jax.distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  if jax.process_index() != 0:
    logging.set_verbosity(logging.WARNING)
  logging.info("jax %s on %d %s device(s), %d process(es); allocator: %s; compilation cache: "
               "%s", jax.__version__, jax.device_count(), jax.default_backend(),
               jax.process_count(), malloc.active(), cache or "off")

  from launch import stages, train, workdir
  try:
    config = stages.expand(config, FLAGS.workdir)
    results = stages.run_all(config, FLAGS.workdir, only=FLAGS.stage)
    if FLAGS.stage or results:  # one stage alone, or a stage stopped by SIGTERM
      return
    results = train.run(config, FLAGS.workdir, restart=FLAGS.restart)
  except (train.NonFiniteLossError, workdir.WorkdirError, OSError, ValueError) as e:
    _fail(str(e), hard=True)
  if "preempted" not in results and jax.process_index() == 0:
    print(writers.summary(results, FLAGS.workdir), flush=True)


def _has_checkpoint(workdir: str) -> bool:
  """Whether `WORKDIR/checkpoints` holds a step (without importing orbax)."""
  try:
    return any(name.isdigit() for name in os.listdir(os.path.join(workdir, "checkpoints")))
  except OSError:
    return False


if __name__ == "__main__":
  malloc.reexec()  # mimalloc under CPU runs (launch/malloc.py); --malloc=system: not
  app.run(main, flags_parser=split_overrides)
