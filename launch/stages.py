"""Runs that need other runs first: an experiment's prerequisite stages.

An experiment module may define `stages(config, workdir) -> [stage, ...]`, each a dict:
- `{"name", "call": "module:function", "kwargs": {...}}`: a preparation step (generate
  stand-in data, prepare a dataset, extract features), with `config=` added when
  `"with_config": True`. Skipped when the optional `"done"` path exists (the step's
  last-written file); otherwise called, and the function itself resumes work left
  half done (every such function in the zoo does).
- `{"name", "experiment": "NAME:ARG", "overrides": [...], "workdir": DIR}` or
  `{"name", "config": ConfigDict, "workdir": DIR}`: a training run in its own workdir,
  skipped when that workdir already holds `results.json`, otherwise trained (or resumed)
  in this process, after its own stages.

`python -m launch.run ... --stage=NAME` runs one stage alone; a plain run does every
missing stage, then its own training. String config values may hold `{runs}`, the folder
the workdir is in, so prerequisite runs and prepared data live next to the run that needs
them and are shared by the experiments that need the same ones, and `{KEY.PATH}`, a config
value (one prerequisite per setting of that key).
"""
import importlib
import os
import re

from absl import logging

RUNS = "{runs}"
_SKIPS_LOGGED = set()  # each skipped stage is reported once per process (not once per split)


def _log_skip(name: str, where: str, message: str):
  if (name, where) not in _SKIPS_LOGGED:
    _SKIPS_LOGGED.add((name, where))
    logging.info(message)


_KEY = re.compile(r"\{([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)\}")


def expand(config, workdir: str):
  """`config` (locked) with `{runs}` in string values replaced by the workdir's folder and
  `{a.b}` by the config's value of `a.b` (e.g. a prerequisite per data split:
  '{runs}/ucf101_flow_cnn_split{data.split_index}')."""
  runs = os.path.dirname(os.path.abspath(workdir))
  config = config.copy_and_resolve_references()

  def value_of(match):
    node = config
    for part in match.group(1).split("."):
      if not hasattr(node, "items") or part not in node:
        return match.group(0)
      node = node[part]
    return str(node)

  def fill(text):
    return _KEY.sub(value_of, text.replace(RUNS, runs)) if isinstance(text, str) else text

  def visit(node):
    for key, value in node.items():
      if hasattr(value, "items"):
        visit(value)
      elif isinstance(value, str) and "{" in value:
        node[key] = fill(value)
      elif isinstance(value, tuple) and any(isinstance(v, str) and "{" in v for v in value):
        node[key] = tuple(fill(v) for v in value)

  with config.unlocked():
    visit(config)
  config.lock()
  return config


def stages_of(config, workdir: str):
  """The experiment's stages for this config and workdir ([] if it has none)."""
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  module = config_lib._experiment_module(config.experiment.partition(":")[0])  # pylint: disable=protected-access
  stages = getattr(module, "stages", None)
  return list(stages(config, workdir)) if stages else []


def run_stage(stage: dict, config, workdir: str):
  """Runs one stage (see the module docstring)."""
  name = stage["name"]
  if "call" in stage:
    if stage.get("done") and os.path.exists(stage["done"]):
      _log_skip(name, stage["done"], f"stage {name}: done ({stage['done']} exists); skipped")
      return None
    module_name, _, function = stage["call"].partition(":")
    fn = getattr(importlib.import_module(module_name), function)
    kwargs = dict(stage.get("kwargs", {}))
    if stage.get("with_config"):
      kwargs["config"] = config
    logging.info("stage %s: %s", name, stage["call"])
    return fn(**kwargs)
  stage_workdir = os.path.abspath(stage["workdir"])
  if os.path.exists(os.path.join(stage_workdir, "results.json")):
    _log_skip(name, stage_workdir, f"stage {name}: done, results in {stage_workdir}; skipped")
    return None
  from launch import config as config_lib  # pylint: disable=import-outside-toplevel
  from launch import train  # pylint: disable=import-outside-toplevel
  if "config" in stage:
    stage_config = stage["config"]
  else:
    stage_config = config_lib.resolve(stage["experiment"], stage.get("overrides", ()))
  stage_config = expand(stage_config, stage_workdir)
  logging.info("stage %s: training %s in %s", name, stage_config.experiment, stage_workdir)
  return run_all(stage_config, stage_workdir) or train.run(stage_config, stage_workdir)


def run_all(config, workdir: str, only: str | None = None):
  """Every stage of `config` in order (each skips itself when done), or just `only`.
  Returns a stage's {'preempted': step} when a SIGTERM stopped it (it saved; a re-run
  resumes it), else None."""
  stages = stages_of(config, workdir)
  if only is not None:
    names = [s["name"] for s in stages]
    if only not in names:
      raise ValueError(f"--stage={only}: experiment {config.experiment} has "
                       f"{'stages ' + ', '.join(names) if names else 'no stages'}")
    stages = [s for s in stages if s["name"] == only]
  for stage in stages:
    results = run_stage(stage, config, workdir)
    if isinstance(results, dict) and "preempted" in results:
      return results
  return None
