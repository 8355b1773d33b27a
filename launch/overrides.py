"""Command lines with `--config.a.b=VALUE` overrides, which absl does not know."""
import difflib
import sys

from absl import flags


def _experiment_configs(argv):
  """The config of `--experiment=` in `argv` if it loads, else those of every experiment."""
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  specs = [a.partition("=")[2] for a in argv if a.startswith("--experiment=")]
  if specs:
    try:
      return [config_lib.load_experiment(specs[-1])]
    except config_lib.ConfigError:
      pass
  names = config_lib._experiment_names()  # pylint: disable=protected-access
  return [config_lib.load_experiment(name) for name in names]


def flag_error(error: flags.Error, argv) -> str:
  """One line for a bad command-line flag; a plain flag that is a config key (`--batch_size=8`,
  `--base_lr=0.1`) points at its `--config.` spelling."""
  if not isinstance(error, flags.UnrecognizedFlagError):
    return str(error).splitlines()[0]
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  name = error.flagname
  value = str(error.flagvalue).partition("=")[2] if "=" in str(error.flagvalue) else "VALUE"
  keys = []
  for config in _experiment_configs(argv):
    keys += [k for k, _ in config_lib.flat_items(config)
             if (k == name or k.endswith("." + name)) and k not in keys]
  if keys:
    return (f"unknown flag --{name}; config settings are given as "
            f"{' or '.join(f'--config.{k}={value}' for k in keys)}")
  close = difflib.get_close_matches(name, list(flags.FLAGS), n=3)
  hint = f"; did you mean {', '.join('--' + c for c in close)}?" if close else ""
  return f"unknown flag --{name}{hint} (--help lists the flags)"


def split_overrides(argv):
  """An absl `flags_parser`: parses the other flags, returns the `--config.*` ones
  (parsed and type-checked later by launch.config). A bad flag is one line on stderr and
  exit status 2, not absl's traceback."""
  overrides = [a for a in argv[1:] if a.startswith("--config.")]
  rest = [a for a in argv if not a.startswith("--config.")]
  try:
    flags.FLAGS(rest)
  except flags.Error as e:
    print(f"error: {flag_error(e, rest)}", file=sys.stderr)
    sys.exit(2)
  return overrides
