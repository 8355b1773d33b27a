"""Ablation sweeps: grid parsing and naming, validation before anything runs, a real
two-setting sweep with a failure, its tables, re-runs that skip, and an interruption."""
import csv
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

import experiments.imagenet_vgg_f
from conftest import ROOT, error_line, training_started, xla_flags
from launch import config as config_lib
from launch import sweep
from launch.sweep import Axis

SPEC = "imagenet_vgg_f:smoke"
TINY = ("--config.total_steps=2", "--config.data.num_train=64", "--config.data.num_eval=32")


def run_sweep(*args, wait=True):
  """Runs `python -m launch.sweep ARGS` in a subprocess with eight CPU devices."""
  env = dict(os.environ, XLA_FLAGS=xla_flags(), PYTHONUNBUFFERED="1")
  command = [sys.executable, "-m", "launch.sweep", f"--experiment={SPEC}", *args]
  if not wait:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
  return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                        timeout=600)


def read_csv(workdir):
  with open(os.path.join(workdir, "sweep.csv"), newline="") as f:
    return list(csv.DictReader(f))


def read_results(run_dir):
  with open(os.path.join(run_dir, "results.json")) as f:
    return json.load(f)


def test_axes_keep_bracketed_values_whole():
  axes = sweep.parse_axes("label_smoothing=0,0.1  schedule.decay_epochs=(30, 60),[20,40]\n"
                          "data.random_flip=on")
  assert axes == [Axis("label_smoothing", ("0", "0.1")),
                  Axis("schedule.decay_epochs", ("(30, 60)", "[20,40]")),
                  Axis("data.random_flip", ("on",))]


@pytest.mark.parametrize("text, message", [
    ("label_smoothing", "axis 'label_smoothing' is not of the form KEY=V1,V2"),
    ("=0,1", "axis '=0,1' is not of the form"),
    ("label_smoothing=0,,0.1", "axis 'label_smoothing' has an empty value"),
    ("label_smoothing=0,0.1,0", "axis 'label_smoothing' repeats 0"),
    ("schedule.decay_epochs=(30,60", "unbalanced brackets"),
    ("schedule.decay_epochs=30,60)", "unbalanced brackets"),
])
def test_bad_axis_syntax(text, message):
  with pytest.raises(config_lib.ConfigError, match=message.replace("(", r"\(")):
    sweep.parse_axes(text)


def test_sweep_file_has_one_axis_a_line_and_comments(tmp_path):
  path = tmp_path / "grid.txt"
  path.write_text("# regularisation ablation\nlabel_smoothing=0,0.1  # as in the paper\n\n"
                  "schedule.decay_epochs=(1, 2),(3, 4)\n")
  assert sweep.read_sweep_file(str(path)) == [
      Axis("label_smoothing", ("0", "0.1")), Axis("schedule.decay_epochs", ("(1, 2)", "(3, 4)"))]
  with pytest.raises(config_lib.ConfigError, match="--sweep_file=.*nope.txt"):
    sweep.read_sweep_file(str(tmp_path / "nope.txt"))


def test_grid_is_the_product_with_the_first_axis_outermost():
  axes = sweep.parse_axes("label_smoothing=0,0.1 data.random_flip=on,off "
                          "schedule.decay_epochs=(1, 2.5)")
  settings = sweep.expand(SPEC, axes, ["--config.total_steps=3"])
  expected = [("0", "on"), ("0", "off"), ("0.1", "on"), ("0.1", "off")]
  assert [(s.values["label_smoothing"], s.values["data.random_flip"]) for s in settings] == \
      expected
  for setting, (smoothing, flip) in zip(settings, expected):
    assert setting.name.startswith(f"label_smoothing={smoothing},data.random_flip={flip},"
                                   "schedule.decay_epochs=_1,_2.5_-")
  assert len({s.name for s in settings}) == 4
  config = config_lib.resolve(SPEC, settings[2].overrides)
  assert config.label_smoothing == 0.1 and config.data.random_flip is True
  assert config.schedule.decay_epochs == (1, 2.5)
  command = sweep.command(SPEC, "/sweeps/a", settings[1], ["--config.total_steps=3"])
  assert command[1:] == [
      "-m", "launch.run", f"--experiment={SPEC}", f"--workdir=/sweeps/a/{settings[1].name}",
      "--config.total_steps=3", "--config.label_smoothing=0", "--config.data.random_flip=off",
      "--config.schedule.decay_epochs=(1, 2.5)"]


def test_setting_names_are_readable_safe_and_distinct():
  assert sweep.setting_name({"label_smoothing": "0.1", "ema": "on"}) == \
      "label_smoothing=0.1,ema=on"
  names = [sweep.setting_name({"decay_epochs": v}) for v in ("(1,2)", "[1,2]", "(1, 2)")]
  assert len(set(names)) == 3
  for name in names + [sweep.setting_name({"init_from": "/runs/../a b"})]:
    assert set(name) <= set("abcdefghijklmnopqrstuvwxyz0123456789_=,.-"), name
  assert sweep.setting_name({"init_from": "/runs/a"}).startswith("init_from=_runs_a-")
  assert len(sweep.setting_name({"init_from": "x" * 1000})) == 209


def test_switches_of_the_experiment_are_axes(monkeypatch):
  monkeypatch.setattr(experiments.imagenet_vgg_f, "SWITCHES", {
      "ema": {"on": {"ema_decay": 0.999}, "off": {"ema_decay": 0.0}},
      "paper_aug": {"yes": {"data.random_flip": True, "schedule.decay_epochs": (30.0, 60.0)},
                    "no": {"data.random_flip": False, "schedule.decay_epochs": (1.0, 2.0)}},
  }, raising=False)
  settings = sweep.expand(SPEC, sweep.parse_axes("ema=on,off paper_aug=no"))
  assert [s.name for s in settings] == ["ema=on,paper_aug=no", "ema=off,paper_aug=no"]
  assert settings[0].overrides == ("ema_decay=0.999", "data.random_flip=false",
                                   "schedule.decay_epochs=(1.0, 2.0)")
  config = config_lib.resolve(SPEC, settings[0].overrides)
  assert config.ema_decay == 0.999 and config.data.random_flip is False
  assert config.schedule.decay_epochs == (1.0, 2.0)
  assert config_lib.resolve(SPEC, settings[1].overrides).ema_decay == 0.0
  with pytest.raises(config_lib.ConfigError,
                     match="axis 'ema': unknown value 'maybe' of switch 'ema'; known: on, off"):
    sweep.expand(SPEC, sweep.parse_axes("ema=on,maybe"))
  with pytest.raises(config_lib.ConfigError, match="axis 'ema_decay' and axis 'ema' both set"):
    sweep.expand(SPEC, sweep.parse_axes("ema=on ema_decay=0.5"))


@pytest.mark.parametrize("axes, overrides, message", [
    ("label_smoothin=0,0.1", (), "axis 'label_smoothin': unknown config key 'label_smoothin'"),
    ("label_smoothing=0,high", (), "axis 'label_smoothing': bad value 'high' for "
     "--config.label_smoothing: expected a float"),
    ("model=0", (), "axis 'model': --config.model is a group of settings"),
    ("label_smoothing=0", ("--config.label_smoothing=0.2",),
     "axis 'label_smoothing' and --config.label_smoothing both set 'label_smoothing'"),
    ("seed=0 seed=1", (), "axis 'seed' is given twice"),
    ("", (), "no axes"),
    ("seed=0", ("--config.batch_sise=3",), "unknown config key 'batch_sise'"),
])
def test_bad_grid_is_a_clear_error(axes, overrides, message):
  with pytest.raises(config_lib.ConfigError) as error:
    sweep.expand(SPEC, sweep.parse_axes(axes), overrides)
  assert str(error.value).startswith(message), str(error.value)


def test_cli_errors_come_before_anything_runs(tmp_path):
  workdir = str(tmp_path / "sweep")
  for axes, message in [
      ("label_smoothing=0,0.1 data.random_flip=on,perhaps",
       "error: axis 'data.random_flip': bad value 'perhaps' for --config.data.random_flip"),
      ("label_smoothing=0 optimiser.name=sgd",
       "error: axis 'optimiser.name': unknown config key 'optimiser'"),
  ]:
    proc = run_sweep(f"--workdir={workdir}", f"--sweep={axes}")
    assert proc.returncode == 2 and error_line(proc.stderr).startswith(message), proc.stderr
    assert not os.path.exists(workdir)

  os.makedirs(workdir)
  with open(os.path.join(workdir, "sweep.json"), "w") as f:
    json.dump({"experiment": SPEC, "axes": [["label_smoothing", ["0", "0.1"]]],
               "overrides": []}, f)
  proc = run_sweep(f"--workdir={workdir}", "--sweep=label_smoothing=0,0.3")
  assert proc.returncode == 2
  assert error_line(proc.stderr).endswith(
      "sweep.json holds another sweep (axes: 'label_smoothing=0,0.1' -> "
      "'label_smoothing=0,0.3'); re-run it with the same grid or use another --workdir")
  assert os.listdir(workdir) == ["sweep.json"]


@pytest.mark.slow  # three launch.run settings: ~30 s (make test's 10-minute budget)
def test_sweep_survives_a_failure_then_reruns_and_skips(tmp_path):
  workdir = str(tmp_path / "sweep")
  first, second = (os.path.join(workdir, f"label_smoothing={v}") for v in ("0", "0.3"))
  args = (f"--workdir={workdir}", "--sweep=label_smoothing=0,0.3", *TINY)
  # The first setting's workdir is held by "another run": launch.run refuses it.
  os.makedirs(first)
  with open(os.path.join(first, ".lock"), "a+") as held:
    fcntl.flock(held, fcntl.LOCK_EX)
    proc = run_sweep(*args)
  assert proc.returncode == 1, proc.stdout + proc.stderr
  assert "failed (exit 2)" in proc.stdout and "is in use by another run" in proc.stdout
  rows = read_csv(workdir)
  assert [(r["label_smoothing"], r["status"]) for r in rows] == [("0", "failed"),
                                                                 ("0.3", "done")]
  assert rows[0]["val/loss"] == "" and float(rows[1]["val/loss"]) == \
      read_results(second)["val/loss"]
  assert [r["data"] for r in rows] == ["", "stand-in"]
  assert rows[0]["experiment"] == SPEC and rows[0]["fixed_overrides"] == " ".join(TINY)
  with open(os.path.join(first, "FAILED")) as f:  # for the tables of other shards
    assert "is in use by another run" in f.read()

  proc = run_sweep(*args)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert "label_smoothing=0.3: skipped, already done" in proc.stdout
  rows = read_csv(workdir)
  assert [r["status"] for r in rows] == ["done", "skipped-done"]
  results = [read_results(d) for d in (first, second)]
  for row, result in zip(rows, results):
    for key in ("val/loss", "val/top1_accuracy", "train_steps_per_s", "wall_time_s"):
      assert float(row[key]) == result[key]
  # Label smoothing changes the two training steps, so the plain validation loss differs.
  assert abs(results[0]["val/loss"] - results[1]["val/loss"]) > 1e-4
  assert not os.path.exists(os.path.join(first, "FAILED"))
  with open(os.path.join(workdir, "sweep.md")) as f:
    markdown = f.read()
  assert markdown.splitlines()[0] == (
      f"Sweep of `{SPEC}`; fixed overrides: `{' '.join(TINY)}`; data: STAND-IN data (not a "
      "real dataset) in every finished run.")
  assert markdown.splitlines()[2].split("|")[1].strip() == "label_smoothing"
  assert "| val/loss " in markdown and markdown.strip() in proc.stdout

  logs = {d: os.path.getsize(os.path.join(d, "log.txt")) for d in (first, second)}
  proc = run_sweep(*args)
  assert proc.returncode == 0 and proc.stdout.count("skipped, already done") == 2
  assert [r["status"] for r in read_csv(workdir)] == ["skipped-done"] * 2
  # No launch.run was started: each appends a header line to its log.
  assert logs == {d: os.path.getsize(os.path.join(d, "log.txt")) for d in (first, second)}


@pytest.mark.slow
def test_interrupted_sweep_resumes_where_it_stopped(tmp_path):
  workdir = str(tmp_path / "sweep")
  first, second = (os.path.join(workdir, f"label_smoothing={v}") for v in ("0", "0.3"))
  args = (f"--workdir={workdir}", "--sweep=label_smoothing=0,0.3", "--config.total_steps=30",
          "--config.data.num_train=64", "--config.data.num_eval=32")
  proc = run_sweep(*args, wait=False)
  deadline = time.time() + 300
  while not (os.path.exists(os.path.join(first, "results.json")) and training_started(second)):
    assert proc.poll() is None and time.time() < deadline, proc.communicate()[0]
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  out, _ = proc.communicate(timeout=120)
  assert proc.returncode == 128 + signal.SIGTERM, out
  assert [r["status"] for r in read_csv(workdir)] == ["done", "pending"]
  assert not os.path.exists(os.path.join(second, "results.json"))
  with open(os.path.join(second, "log.txt")) as f:
    assert "SIGTERM: saved step" in f.read()

  proc = run_sweep(*args)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  assert [r["status"] for r in read_csv(workdir)] == ["skipped-done", "done"]
  results = read_results(second)
  assert results["step"] == 30 and 0 < results["train_steps_this_run"] < 30
  with open(os.path.join(second, "log.txt")) as f:
    assert "resumed from the checkpoint" in f.read()


def _fake_results(workdir, setting, top1, stand_in=True):
  os.makedirs(os.path.join(workdir, setting), exist_ok=True)
  with open(os.path.join(workdir, setting, "results.json"), "w") as f:
    json.dump({"val/top1_accuracy": top1, "val/loss": 1 - top1, "train_steps_per_s": 2.0,
               "wall_time_s": 10.0, "data": {"stand_in": stand_in}}, f)


def test_shards_split_the_grid_and_any_shard_tables_what_has_finished(tmp_path):
  workdir = str(tmp_path / "sweep")
  args = (f"--workdir={workdir}", "--sweep=label_smoothing=0,0.1,0.2 seed=0,1", *TINY)
  names = [s.name for s in sweep.expand(SPEC, sweep.parse_axes("label_smoothing=0,0.1,0.2 "
                                                               "seed=0,1"), TINY)]
  shards = []
  for index in range(4):
    proc = run_sweep(*args, f"--shard={index}/4", "--dry_run")
    assert proc.returncode == 0, proc.stderr
    shards.append([line.split("--workdir=")[1].split()[0].rsplit("/", 1)[1]
                   for line in proc.stdout.splitlines()])
  assert shards == [names[0::4], names[1::4], names[2::4], names[3::4]]
  assert sorted(sum(shards, [])) == sorted(names)
  proc = run_sweep(*args, "--shard=4/4", "--dry_run")
  assert proc.returncode == 2
  assert error_line(proc.stderr) == \
      "error: --shard=4/4: expected I/N with 0 <= I < N (I counts from 0)"

  # Three runs finished (on two shards' machines), one failed, the rest not yet run.
  for name, top1 in zip(names[:3], (0.5, 0.7, 0.4)):
    _fake_results(workdir, name, top1)
  os.makedirs(os.path.join(workdir, names[3]))
  with open(os.path.join(workdir, names[3], "FAILED"), "w") as f:
    f.write("exit 2: error: ...\n")
  proc = run_sweep(*args, "--report")
  assert proc.returncode == 0, proc.stderr
  rows = read_csv(workdir)
  assert [r["status"] for r in rows] == ["done"] * 3 + ["failed", "pending", "pending"]
  assert [r["val/top1_accuracy"] for r in rows] == ["0.5", "0.7", "0.4", "", "", ""]
  assert not any(os.path.exists(os.path.join(workdir, n, "log.txt")) for n in names)  # ran nothing

  means = {r["label_smoothing"]: r for r in csv.DictReader(open(os.path.join(workdir,
                                                                             "sweep_mean.csv")))}
  assert list(means) == ["0", "0.1", "0.2"]
  assert means["0"]["n"] == "2" and float(means["0"]["val/top1_accuracy_mean"]) == 0.6
  assert float(means["0"]["val/top1_accuracy_std"]) == pytest.approx(0.1414213, rel=1e-5)
  assert means["0.1"]["n"] == "1" and means["0.1"]["val/top1_accuracy_std"] == ""
  assert means["0.2"]["n"] == "0" and means["0.2"]["val/top1_accuracy_mean"] == ""
  with open(os.path.join(workdir, "sweep_mean.md")) as f:
    text = f.read()
  assert text.startswith(f"Mean +- standard deviation over `seed`, sweep of `{SPEC}`")
  assert "| 0               | 2 | 0.4 +- 0.14 | 0.6 +- 0.14       |" in text.splitlines()[4]
  assert text.strip() in proc.stdout
