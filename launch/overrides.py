"""Command lines with `--config.a.b=VALUE` overrides, which absl does not know."""
from absl import flags


def split_overrides(argv):
  """An absl `flags_parser`: parses the other flags, returns the `--config.*` ones
  (parsed and type-checked later by launch.config)."""
  overrides = [a for a in argv[1:] if a.startswith("--config.")]
  flags.FLAGS([a for a in argv if not a.startswith("--config.")])
  return overrides
