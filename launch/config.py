"""Experiment configs: load `experiments/NAME.py:ARG`, apply typed `--config.a.b=V` overrides.

Every error is a `ConfigError` whose one-line message names the experiment, variant,
key or value at fault, raised before anything is compiled.
"""
import ast
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
        raise ConfigError(f"unknown config key '{'.'.join(parents[:i + 1])}' in --config.{key}")
      node = node[part]
    if not isinstance(node, ml_collections.ConfigDict) or leaf not in node:
      raise ConfigError(f"unknown config key '{key}' in --config.{key}")
    current = node[leaf]
    if isinstance(current, ml_collections.ConfigDict):
      raise ConfigError(f"--config.{key} is a group of settings; set one of: {', '.join(current.keys())}")
    value = parse_value(key, text, current)
    try:
      node[leaf] = value
    except (TypeError, ValueError) as e:
      raise ConfigError(f"bad value '{text}' for --config.{key}: {e}") from None
  return config


def resolve(spec: str, overrides=()) -> ml_collections.ConfigDict:
  """The locked config of `spec` with `overrides` applied."""
  config = load_experiment(spec)
  apply_overrides(config, overrides)
  config.lock()
  return config
