"""Experiment configs: load `experiments/NAME.py:ARG`, apply typed `--config.a.b=V` overrides.

Every error is a `ConfigError` whose one-line message names the experiment, variant,
key or value at fault, raised before anything is compiled.
"""
import ast
import difflib
import importlib
import pkgutil

import ml_collections

import experiments


class ConfigError(ValueError):
  """A bad experiment name, variant, override key or override value."""


def _experiment_names():
  """Modules of `experiments/`; a leading underscore marks a shared helper, not an experiment."""
  return sorted(m.name for m in pkgutil.iter_modules(experiments.__path__)
                if not m.name.startswith("_"))


def _experiment_module(name):
  known = _experiment_names()
  if name not in known:
    raise ConfigError(f"unknown experiment '{name}'; known: {', '.join(known)}")
  return importlib.import_module(f"experiments.{name}")


def load_experiment(spec: str) -> ml_collections.ConfigDict:
  """`NAME` or `NAME:ARG` -> the experiment's config (unlocked)."""
  name, _, arg = spec.partition(":")
  module = _experiment_module(name)
  variants = getattr(module, "VARIANTS", {})
  if arg and arg not in variants:
    raise ConfigError(
        f"unknown variant '{arg}' of experiment '{name}'; known: {', '.join(sorted(variants)) or 'none'}")
  config = module.get_config(arg or None)
  config.experiment = spec
  return config


def list_experiments() -> str:
  """One line per experiment and per variant, with its description."""
  lines = []
  for name in _experiment_names():
    module = importlib.import_module(f"experiments.{name}")
    doc = (module.__doc__ or "").strip().splitlines()
    lines.append(f"{name:<28} {doc[0] if doc else ''}")
    for arg, description in getattr(module, "VARIANTS", {}).items():
      lines.append(f"  {name + ':' + arg:<26} {description}")
  return "\n".join(lines)


_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}


def parse_value(key: str, text: str, current):
  """Parses `text` into the type of the field's current value."""
  def bad(why):
    return ConfigError(f"bad value '{text}' for --config.{key}: {why}")

  if text.lower() == "none" and not isinstance(current, str):
    return None
  if isinstance(current, bool):
    if text.lower() in _TRUE:
      return True
    if text.lower() in _FALSE:
      return False
    raise bad("expected a bool (true/false/on/off/1/0)")
  if isinstance(current, int):
    try:
      return int(text)
    except ValueError:
      raise bad("expected an int") from None
  if isinstance(current, float):
    try:
      return float(text)
    except ValueError:
      raise bad("expected a float") from None
  if isinstance(current, str):
    return text
  if isinstance(current, (tuple, list)):
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = tuple(t.strip() for t in text.split(",") if t.strip())
    if not isinstance(value, (tuple, list)):
      value = (value,)
    return type(current)(value)
  if current is None:  # an unset optional field: any Python literal, else a string
    try:
      return ast.literal_eval(text)
    except (ValueError, SyntaxError):
      return text
  raise bad(f"cannot override a field of type {type(current).__name__}")


def flat_items(config, prefix=""):
  """(dotted key, value) of every leaf of `config`, in the config's order."""
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from flat_items(value, f"{prefix}{key}.")
    else:
      yield f"{prefix}{key}", value


def nearest_keys(config, key: str, n: int = 3) -> list:
  """Up to `n` config keys closest to a mistyped `key`: whole paths compared, and for a key
  without a dot leaf names too (`base_lr` -> `schedule.base_lr`); only those about as close
  as the closest."""
  scores = {}
  for k, _ in flat_items(config):
    whole = difflib.SequenceMatcher(None, key, k).ratio()
    leaf = 0.0 if "." in key else difflib.SequenceMatcher(None, key, k.rsplit(".", 1)[-1]).ratio()
    scores[k] = max(whole, leaf - 0.05)  # a leaf alone is weaker evidence than the path
  best = max(scores.values(), default=0.0)
  close = sorted((k for k, v in scores.items() if v >= max(0.6, best - 0.08)),
                 key=lambda k: -scores[k])
  return close[:n]


def _unknown_key(config, key: str, part: str) -> ConfigError:
  close = nearest_keys(config, key)
  hint = f"; did you mean {', '.join('--config.' + k for k in close)}?" if close else \
      " (python -m launch.run --experiment=... --print_config lists the keys)"
  return ConfigError(f"unknown config key '{part}' in --config.{key}{hint}")


def as_text(value) -> str:
  """A Python value as `parse_value` reads it back."""
  if isinstance(value, bool):
    return str(value).lower()
  if value is None:
    return "none"
  return value if isinstance(value, str) else repr(value)


def format_config(config) -> str:
  """One `KEY=VALUE` line per setting, as `--config.KEY=VALUE` overrides are written."""
  return "\n".join(f"{key}={as_text(value)}" for key, value in flat_items(config))


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
  """Applies `a.b=VALUE` strings (the `--config.` prefix optional) to `config` in place."""
  for item in overrides:
    item = item.removeprefix("--").removeprefix("config.")
    key, sep, text = item.partition("=")
    if not sep or not key:
      raise ConfigError(f"override '{item}' is not of the form --config.KEY=VALUE")
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        raise _unknown_key(config, key, ".".join(parents[:i + 1]))
      node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
      raise _unknown_key(config, key, key)
    current = node[leaf]
    if isinstance(current, ml_collections.ConfigDict):
      raise ConfigError(f"--config.{key} is a group of settings; set one of: {', '.join(current.keys())}")
    value = parse_value(key, text, current)
    try:
      node[leaf] = value
    except (TypeError, ValueError) as e:
      raise ConfigError(f"bad value '{text}' for --config.{key}: {e}") from None
  return config


# Numbers that must be positive (> 0) or at least zero (>= 0) wherever a config has them;
# a bad one would otherwise fail late (a division by zero, a workdir created for nothing).
_POSITIVE = ("batch_size", "eval_batch_size", "log_every_steps", "checkpoint_every_steps",
             "keep_checkpoints", "data.image_size", "data.num_threads")
_NON_NEGATIVE = ("total_steps", "eval_every_steps", "data.prefetch_batches",
                 "data.prefetch_to_device", "data.max_bad_fraction", "label_smoothing",
                 "aux_loss_weight", "ema_decay", "schedule.base_lr", "schedule.warmup_epochs")
_BELOW_ONE = ("label_smoothing", "ema_decay")


def _get(config, key):
  node = config
  for part in key.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      return None
    node = node[part]
  return node


def check_values(config) -> None:
  """Raises `ConfigError` for a value no run can use (a batch of 0, a negative step count)."""
  def bad(key, value, why):
    return ConfigError(f"bad value '{as_text(value)}' for --config.{key}: {why}")

  for key in _POSITIVE:
    value = _get(config, key)
    if value is not None and not isinstance(value, bool) and value <= 0:
      raise bad(key, value, "must be positive")
  for key in _NON_NEGATIVE:
    value = _get(config, key)
    if value is not None and not isinstance(value, bool) and value < 0:
      raise bad(key, value, "must not be negative")
  for key in _BELOW_ONE:
    value = _get(config, key)
    if value is not None and value >= 1:
      raise bad(key, value, "must be below 1")
  if _get(config, "total_steps") is None and (_get(config, "num_epochs") or 0) <= 0 \
      and "num_epochs" in config:
    raise bad("num_epochs", config.num_epochs, "must be positive (or set --config.total_steps)")
  if config.get("keep_best"):
    metric, _ = parse_keep_best(config.keep_best)
    evaluator = metric.split("/")[0]
    if "/" not in metric or evaluator not in config.get("evals", {}):
      raise ConfigError(f"bad value '{config.keep_best}' for --config.keep_best: '{metric}' is "
                        f"not EVALUATOR/METRIC of an evaluator in config.evals "
                        f"({', '.join(config.get('evals', {}).keys()) or 'none'})")


def parse_keep_best(text: str) -> tuple:
  """'METRIC:max' or 'METRIC:min' -> (metric, mode); '' -> (None, None)."""
  if not text:
    return None, None
  metric, _, mode = text.rpartition(":")
  if not metric or mode not in ("max", "min"):
    raise ConfigError(f"bad value '{text}' for --config.keep_best: expected METRIC:max or "
                      f"METRIC:min (e.g. 'val/top1_accuracy:max', 'val/loss:min')")
  return metric, mode


def resolve(spec: str, overrides=()) -> ml_collections.ConfigDict:
  """The locked config of `spec` with `overrides` applied and its values checked."""
  config = load_experiment(spec)
  apply_overrides(config, overrides)
  check_values(config)
  config.lock()
  return config
