"""A trained run on your own files (the command line of `zoo.predict`).

  python -m launch.predict --workdir=RUN [--checkpoint=latest|best|STEP] --out=DIR INPUTS...

INPUTS are files, folders or globs; the run's `config.json` says which task it is, so
one command serves every experiment. Task options (each task takes its own):
  classification, diabetic retinopathy: --crops=center|ten, --ensemble=RUN1,RUN2
  relative aesthetics: --pairs=A:B,...
  GANs (no INPUTS): --num=N, --label=K, --interpolate
  Video2Vec: --query=WORD,... --classes=WORD,...
  facial attributes (no INPUTS): --source=IMG --reference=IMG[,IMG...]
Writes a table (CSV or JSONL) with a row per input, summary.md and pictures into --out,
and prints where they are. Nothing in the workdir is written.
"""
import inspect
import os
import sys

from absl import app, flags

from launch import compilation_cache, malloc, writers

flags.DEFINE_string("workdir", None, "The trained run.")
flags.DEFINE_string("checkpoint", "latest", "latest | best | STEP")
flags.DEFINE_string("out", None, "Where the table, summary and pictures go.")
flags.DEFINE_enum("crops", None, ["center", "ten"], "Classification: evaluation crops "
                  "(default: the run's).")
flags.DEFINE_list("ensemble", None, "Classification: other runs whose predicted "
                  "distributions are averaged with this one's.")
flags.DEFINE_list("pairs", None, "Relative aesthetics: A:B pairs of input files.")
flags.DEFINE_integer("num", None, "GANs: how many samples.")
flags.DEFINE_integer("label", None, "GANs: the class of a conditional run's samples.")
flags.DEFINE_bool("interpolate", None, "GANs: walks between noise vectors.")
flags.DEFINE_list("query", None, "Video2Vec: words to rank the inputs by.")
flags.DEFINE_list("classes", None, "Video2Vec: class names for zero-shot recognition.")
flags.DEFINE_string("source", None, "Facial attributes: the face to edit.")
flags.DEFINE_list("reference", None, "Facial attributes: faces that have the attribute.")
flags.DEFINE_integer("seed", None, "GANs: the noise's seed.")
flags.DEFINE_enum("malloc", "mimalloc", malloc.CHOICES, malloc.FLAG_HELP)
FLAGS = flags.FLAGS

OPTIONS = ("crops", "ensemble", "pairs", "num", "label", "interpolate", "query", "classes",
           "source", "reference", "seed")


def _fail(message: str):
  sys.stdout.flush()
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def main(argv):
  writers.quiet_library_logs()
  inputs = argv[1:]
  if not FLAGS.workdir or not FLAGS.out:
    _fail("--workdir=RUN and --out=DIR are required")
  if os.path.abspath(FLAGS.out).startswith(os.path.abspath(FLAGS.workdir) + os.sep) or \
      os.path.abspath(FLAGS.out) == os.path.abspath(FLAGS.workdir):
    _fail(f"--out={FLAGS.out} is inside the workdir; prediction never writes there")
  compilation_cache.enable_from_flags()  # --compilation_cache_dir, as launch.run
  from zoo import predict  # after flag parsing: keeps --help fast
  try:
    cls = predict.predictor_class(predict.read_config(FLAGS.workdir).task)
    accepted = inspect.signature(cls.predict).parameters
    options = {k: FLAGS[k].value for k in OPTIONS if FLAGS[k].value is not None}
    wrong = [k for k in options if k not in accepted]
    if wrong:
      takes = [k for k in accepted if k in OPTIONS]
      _fail(f"{', '.join('--' + k for k in wrong)} is not an option of this run's task "
            f"({'its options: ' + ', '.join('--' + k for k in takes) if takes else 'none'})")
    predictor = cls(FLAGS.workdir, FLAGS.checkpoint)
    rows = predictor.predict(inputs, **options)
    files = predictor.write(FLAGS.out, rows)
  except (OSError, ValueError) as e:  # PredictError is a ValueError
    _fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
  for path, why in predictor.skipped:
    print(f"skipped {path}: {why}", file=sys.stderr)
  print(f"{len(rows)} predictions ({len(predictor.skipped)} inputs skipped):")
  for path in files:
    print(f"  {path}")


if __name__ == "__main__":
  malloc.reexec()
  app.run(main)
