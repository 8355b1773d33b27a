"""Experiment loading and typed command-line overrides."""
import os

import pytest
from hypothesis import given, strategies as st

from conftest import launch
from launch import config as config_lib


def test_override_types_are_parsed_and_checked():
  config = config_lib.load_experiment("imagenet_vgg_f:smoke")
  config_lib.apply_overrides(config, [
      "--config.batch_size=32", "--config.schedule.base_lr=1e-3", "--config.data.random_flip=off",
      "--config.model.name=vgg_f", "--config.schedule.decay_epochs=(1, 2.5)",
      "--config.total_steps=none", "--config.optimizer.weight_decay=0"])
  assert config.batch_size == 32 and config.schedule.base_lr == 1e-3
  assert config.data.random_flip is False and config.total_steps is None
  assert config.schedule.decay_epochs == (1, 2.5) and config.optimizer.weight_decay == 0.0


@pytest.mark.parametrize("override, message", [
    ("--config.batch_sise=3", "unknown config key 'batch_sise'"),
    ("--config.nope.x=3", "unknown config key 'nope'"),
    ("--config.batch_size=3.5", "bad value '3.5' for --config.batch_size: expected an int"),
    ("--config.data.random_flip=maybe", "bad value 'maybe' for --config.data.random_flip"),
    ("--config.schedule.base_lr=fast", "bad value 'fast' for --config.schedule.base_lr"),
    ("--config.model=3", "--config.model is a group of settings"),
    ("--config.batch_size", "is not of the form --config.KEY=VALUE"),
])
def test_bad_override_is_a_clear_error(override, message):
  config = config_lib.load_experiment("imagenet_vgg_f")
  with pytest.raises(config_lib.ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
    config_lib.apply_overrides(config, [override])


def test_unknown_experiment_and_variant():
  with pytest.raises(config_lib.ConfigError, match="unknown experiment 'imagenet_vgg'"):
    config_lib.load_experiment("imagenet_vgg")
  with pytest.raises(config_lib.ConfigError, match="unknown variant 'smok' of experiment"):
    config_lib.load_experiment("imagenet_vgg_f:smok")


@given(st.integers(-10**12, 10**12))
def test_int_overrides_round_trip(value):
  config = config_lib.load_experiment("imagenet_vgg_f")
  config_lib.apply_overrides(config, [f"--config.batch_size={value}"])
  assert config.batch_size == value


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_overrides_round_trip(value):
  config = config_lib.load_experiment("imagenet_vgg_f")
  config_lib.apply_overrides(config, [f"--config.schedule.base_lr={value!r}"])
  assert config.schedule.base_lr == value


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20))
def test_int_field_never_accepts_garbage_silently(text):
  config = config_lib.load_experiment("imagenet_vgg_f")
  try:
    expected = int(text)
  except ValueError:
    expected = None
  if text.lower() == "none":
    expected = None
  try:
    config_lib.apply_overrides(config, [f"--config.batch_size={text}"])
  except config_lib.ConfigError as e:
    assert "batch_size" in str(e) and expected is None
  else:
    assert config.batch_size == expected


def test_cli_errors_are_one_line_before_compiling():
  for args, message in [
      (["--experiment=nope", "--workdir=/tmp/x"], "error: unknown experiment 'nope'"),
      (["--experiment=imagenet_vgg_f:smoke", "--workdir=/tmp/x", "--config.batch_sise=2"],
       "error: unknown config key 'batch_sise'"),
  ]:
    proc = launch(*args, check=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_list_names_every_experiment_and_variant():
  proc = launch("--list")
  assert "imagenet_vgg_f" in proc.stdout
  assert "imagenet_vgg_f:synthetic" in proc.stdout and "imagenet_vgg_f:smoke" in proc.stdout


@pytest.mark.parametrize("override, message", [
    ("--config.batch_size=0", "bad value '0' for --config.batch_size: must be positive"),
    ("--config.batch_size=-4", "bad value '-4' for --config.batch_size: must be positive"),
    ("--config.eval_batch_size=0", "bad value '0' for --config.eval_batch_size: must be positive"),
    ("--config.total_steps=-1", "bad value '-1' for --config.total_steps: must not be negative"),
    ("--config.log_every_steps=0", "bad value '0' for --config.log_every_steps"),
    ("--config.label_smoothing=1.0",
     "bad value '1.0' for --config.label_smoothing: must be below 1"),
    ("--config.keep_best=val/loss", "bad value 'val/loss' for --config.keep_best: expected "
     "METRIC:max or METRIC:min"),
])
def test_values_no_run_can_use_are_refused_by_resolve(override, message):
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.resolve("imagenet_vgg_f:smoke", [override])
  assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("key, suggested", [
    ("batch_sise", ["batch_size"]),
    ("base_lr", ["schedule.base_lr"]),  # a leaf without its group
    ("optimiser.name", ["optimizer.name"]),
    ("data.ranom_flip", ["data.random_flip"]),
    ("zzz", []),
])
def test_unknown_keys_suggest_the_nearest_known_ones(key, suggested):
  config = config_lib.load_experiment("imagenet_vgg_f")
  assert config_lib.nearest_keys(config, key) == suggested
  with pytest.raises(config_lib.ConfigError) as error:
    config_lib.apply_overrides(config, [f"--config.{key}=1"])
  hint = "; did you mean " + ", ".join("--config." + k for k in suggested) + "?"
  assert str(error.value).endswith(hint if suggested else "--print_config lists the keys)")


def test_print_config_lists_every_key_as_an_override_that_reads_back():
  proc = launch("--experiment=imagenet_vgg_f:smoke", "--print_config", "--config.seed=7")
  lines = proc.stdout.splitlines()
  assert "seed=7" in lines and "batch_size=16" in lines and "data.random_flip=true" in lines
  assert "schedule.decay_epochs=(30.0, 60.0, 80.0)" in lines or any(
      line.startswith("schedule.decay_epochs=(") for line in lines)
  # Every line is an override: applied to the plain variant they give the same config.
  again = config_lib.load_experiment("imagenet_vgg_f:smoke")
  config_lib.apply_overrides(again, [line for line in lines if not line.startswith("experiment=")])
  assert config_lib.format_config(again) == proc.stdout.strip()
  assert not proc.stderr.strip()


def test_cli_mistakes_are_one_line_and_create_nothing(tmp_path):
  workdir = str(tmp_path / "run")
  for args, message in [
      (["--batch_size=8"], "error: unknown flag --batch_size; config settings are given as "
       "--config.batch_size=8"),
      (["--experiment=imagenet_vgg_f:smoke", "--base_lr=0.1"],
       "error: unknown flag --base_lr; config settings are given as --config.schedule.base_lr=0.1"),
      (["--workdri=x"], "error: unknown flag --workdri; did you mean --workdir?"),
      (["--experiment=imagenet_vgg_f:smoke", f"--workdir={workdir}", "--config.batch_size=0"],
       "error: bad value '0' for --config.batch_size: must be positive"),
      (["--experiment=imagenet_vgg_f:smoke", f"--workdir={workdir}", "--config.total_steps=0"],
       f"error: --config.total_steps=0 only evaluates, but --workdir={workdir} holds no "
       "checkpoint; name the weights with --config.init_from=PATH"),
  ]:
    proc = launch(*args, check=False)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
  assert not os.path.exists(workdir)
