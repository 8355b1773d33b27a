"""The loop end to end through `python -m launch.run`: results, resume after SIGKILL,
SIGTERM, restore on another device count, evaluation only, init_from."""
import json
import os
import signal
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import error_line, launch, launch_processes, training_started
from launch import checkpoint, train

SMOKE = "--experiment=imagenet_vgg_f:smoke"
TIMING = ("steps_per_s", "examples_per_s_per_device", "wall_time_s", "train_steps_per_s",
          "train_steps_this_run", "first_step_s",
          "train_step_compiled_from")  # depends on what the compilation cache held


def read_json(path):
  with open(path) as f:
    return json.load(f)


def read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [{k: v for k, v in json.loads(line).items() if k not in TIMING} for line in f]


def final_state(workdir, step):
  return checkpoint.restore_on_host(os.path.join(workdir, "checkpoints", str(step), "state"))


def assert_trees_equal(a, b):
  flat_a = dict(_flatten(a))
  flat_b = dict(_flatten(b))
  assert flat_a.keys() == flat_b.keys()
  for key in flat_a:
    np.testing.assert_array_equal(flat_a[key], flat_b[key], err_msg=key)


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    for k, v in tree.items():
      yield from _flatten(v, f"{prefix}/{k}")
  elif isinstance(tree, (list, tuple)):
    for i, v in enumerate(tree):
      yield from _flatten(v, f"{prefix}/{i}")
  elif tree is not None:
    yield prefix, np.asarray(tree)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("smoke"))
  # keep_best by the *highest* loss: the best checkpoint is then likely not the last one
  proc = launch(SMOKE, f"--workdir={workdir}", "--config.eval_every_steps=4",
                "--config.keep_best=val/loss:max")
  with open(workdir + ".out", "w") as f:  # for test_run_ends_with_a_short_summary
    f.write(proc.stdout + "\n=== stderr\n" + proc.stderr)
  return workdir


def test_smoke_writes_results_and_compiles_once(smoke_run):
  results = read_json(os.path.join(smoke_run, "results.json"))
  assert results["step"] == 6 and results["devices"] == 8
  assert results["train_step_compilations"] == 1  # no re-tracing after the first step
  assert results["data"]["stand_in"] is True
  assert results["val/num_examples"] == 64
  assert 0.0 <= results["val/top1_accuracy"] <= results["val/top5_accuracy"] <= 1.0
  assert np.isfinite(results["val/loss"])
  config = read_json(os.path.join(smoke_run, "config.json"))
  assert config["experiment"] == "imagenet_vgg_f:smoke" and config["batch_size"] == 16
  metrics = read_metrics(smoke_run)
  assert [m["step"] for m in metrics if "train/loss" in m] == [2, 4, 6]
  assert [m["step"] for m in metrics if "val/top1_accuracy" in m] == [4, 6]  # every 4 + final
  assert os.listdir(os.path.join(smoke_run, "tensorboard"))


def test_run_ends_with_a_short_summary(smoke_run):
  with open(smoke_run + ".out") as f:
    stdout, stderr = f.read().split("\n=== stderr\n")
  results = read_json(os.path.join(smoke_run, "results.json"))
  lines = stdout.strip().splitlines()
  assert lines[0].startswith("imagenet_vgg_f:smoke finished at step 6 (6 steps this run, ")
  assert lines[1].startswith("  data: STAND-IN, embedded stand-in")
  assert f"val/top1_accuracy {results['val/top1_accuracy']:.4g}" in lines[2]
  assert lines[-1] == f"  results: {smoke_run}/results.json"
  assert "{'val/" not in stderr  # no raw dict
  assert "Unable to initialize backend" not in stderr  # jax's probing of absent backends


def test_rerun_of_a_finished_run_only_reports_its_results(smoke_run):
  before = {name: os.path.getmtime(os.path.join(smoke_run, name))
            for name in ("metrics.jsonl", "results.json")}
  proc = launch(SMOKE, f"--workdir={smoke_run}", "--config.eval_every_steps=4", devices=1)
  assert proc.stdout.startswith("imagenet_vgg_f:smoke had already finished at step 6; "
                                "nothing was run, its results:\n"), proc.stdout
  assert before == {name: os.path.getmtime(os.path.join(smoke_run, name)) for name in before}
  assert [m["step"] for m in read_metrics(smoke_run) if "val/top1_accuracy" in m] == [4, 6]


def test_best_checkpoint_is_kept_and_init_from_picks_it(smoke_run, tmp_path):
  losses = {m["step"]: m["val/loss"] for m in read_metrics(smoke_run) if "val/loss" in m}
  best = max(losses, key=losses.get)  # keep_best=val/loss:max
  assert sorted(losses) == [4, 6]
  assert os.listdir(os.path.join(smoke_run, "best_checkpoint")) == [str(best)]
  with open(smoke_run + ".out") as f:
    assert f"  best val/loss {losses[best]:.4g} at step {best}: {smoke_run}/best_checkpoint " \
        f"(--config.init_from={smoke_run}:best)" in f.read()
  launch(SMOKE, f"--workdir={tmp_path}", "--config.total_steps=0",
         f"--config.init_from={smoke_run}:best")
  fresh = read_json(os.path.join(tmp_path, "results.json"))
  assert fresh["val/loss"] == pytest.approx(losses[best], rel=1e-5)
  with pytest.raises(FileNotFoundError, match=f"'{tmp_path}:best': {tmp_path}/best_checkpoint "
                     "holds no best checkpoint"):
    checkpoint.load_params(f"{tmp_path}:best")


def test_checkpoint_from_8_devices_restores_on_1_and_only_evaluates(smoke_run):
  results = read_json(os.path.join(smoke_run, "results.json"))
  launch(SMOKE, f"--workdir={smoke_run}", "--config.total_steps=0", devices=1)
  again = read_json(os.path.join(smoke_run, "results.json"))
  assert again["devices"] == 1 and again["step"] == 6 and again["train_steps_this_run"] == 0
  assert again["val/top1_accuracy"] == results["val/top1_accuracy"]
  assert again["val/loss"] == pytest.approx(results["val/loss"], rel=1e-5)


def test_init_from_loads_parameters_into_a_fresh_workdir(smoke_run, tmp_path):
  results = read_json(os.path.join(smoke_run, "results.json"))
  launch(SMOKE, f"--workdir={tmp_path}", "--config.total_steps=0", f"--config.init_from={smoke_run}")
  fresh = read_json(os.path.join(tmp_path, "results.json"))
  assert fresh["val/top1_accuracy"] == results["val/top1_accuracy"]
  assert fresh["val/loss"] == pytest.approx(results["val/loss"], rel=1e-5)


def test_ensemble_averages_the_members_distributions(smoke_run, tmp_path):
  other, ensemble = str(tmp_path / "other"), str(tmp_path / "ensemble")
  launch(SMOKE, f"--workdir={other}", "--config.seed=1")
  launch(SMOKE, f"--workdir={ensemble}", "--config.total_steps=0",
         f"--config.init_from={smoke_run}", f"--config.evals.val.ensemble={other}")
  a, b, both = (read_json(os.path.join(w, "results.json")) for w in (smoke_run, other, ensemble))
  assert len({a["val/loss"], b["val/loss"], both["val/loss"]}) == 3
  # Cross-entropy is convex in the predicted distribution: the loss of the averaged
  # distribution is at most the average of the members' losses.
  assert both["val/loss"] <= (a["val/loss"] + b["val/loss"]) / 2 + 1e-6


def test_ten_crop_evaluation_runs_end_to_end(smoke_run, tmp_path):
  launch(SMOKE, f"--workdir={tmp_path}", "--config.total_steps=0",
         f"--config.init_from={smoke_run}", "--config.data.eval_crops=ten")
  single = read_json(os.path.join(smoke_run, "results.json"))
  ten = read_json(os.path.join(tmp_path, "results.json"))
  assert ten["val/num_examples"] == 64 and ten["val/loss"] != single["val/loss"]


def _wait_for_checkpoint(proc, workdir, step, timeout=300):
  deadline = time.time() + timeout
  target = os.path.join(workdir, "checkpoints", str(step))
  while not os.path.isdir(target):
    assert proc.poll() is None, f"run ended before step {step}:\n{proc.stdout.read()[-3000:]}"
    assert time.time() < deadline
    time.sleep(0.02)


@pytest.mark.slow  # test_reliability's random kills (in make test) resume bitwise too
def test_resume_after_sigkill_is_bitwise_identical(tmp_path):
  args = (SMOKE, "--config.total_steps=24", "--config.checkpoint_every_steps=4")
  straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
  launch(*args, f"--workdir={straight}")
  proc = launch(*args, f"--workdir={killed}", wait=False)
  _wait_for_checkpoint(proc, killed, 8)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  assert not os.path.exists(os.path.join(killed, "results.json"))  # it really died mid-run
  launch(*args, f"--workdir={killed}")
  assert_trees_equal(final_state(straight, 24), final_state(killed, 24))
  assert read_metrics(straight) == read_metrics(killed)
  a, b = (read_json(os.path.join(w, "results.json")) for w in (straight, killed))
  assert {k: v for k, v in a.items() if k not in TIMING} == \
      {k: v for k, v in b.items() if k not in TIMING}


def test_sigterm_saves_exits_cleanly_and_resumes(tmp_path):
  args = (SMOKE, "--config.total_steps=400", "--config.checkpoint_every_steps=1000",
          f"--workdir={tmp_path}")
  proc = launch(*args, wait=False)
  deadline = time.time() + 300
  while not training_started(str(tmp_path)):
    assert proc.poll() is None and time.time() < deadline
    time.sleep(0.02)
  proc.send_signal(signal.SIGTERM)
  assert proc.wait(timeout=120) == 0
  steps = ocp.utils.checkpoint_steps(os.path.join(tmp_path, "checkpoints"))
  assert len(steps) == 1 and 0 < steps[0] < 400
  launch(*args[:-1], "--config.total_steps=" + str(steps[0] + 2), f"--workdir={tmp_path}")
  assert read_json(os.path.join(tmp_path, "results.json"))["train_steps_this_run"] == 2


def test_non_finite_loss_stops_naming_the_step_and_keeps_good_checkpoints(tmp_path):
  # The learning rate jumps x1e4 every 2 steps: the run diverges after a few steps.
  proc = launch(SMOKE, f"--workdir={tmp_path}", "--config.total_steps=12",
                "--config.schedule.name=exponential", "--config.schedule.base_lr=1e-4",
                "--config.schedule.warmup_epochs=0", "--config.schedule.decay_epochs=(0.125,)",
                "--config.schedule.decay_factor=1e4", check=False)
  assert proc.returncode == 2
  message = error_line(proc.stderr)
  bad_step = int(message.split(" at step ")[1].split(";")[0])
  assert message.startswith("error: non-finite") and 2 < bad_step < 12
  steps = ocp.utils.checkpoint_steps(os.path.join(tmp_path, "checkpoints"))
  assert steps and max(steps) < bad_step
  assert f"last good checkpoint (step {max(steps)})" in message
  for _, leaf in _flatten(final_state(str(tmp_path), max(steps))):
    assert np.all(np.isfinite(leaf))


def test_two_processes_of_four_devices_match_one_process_of_eight(smoke_run, tmp_path):
  launch_processes(SMOKE, f"--workdir={tmp_path}")
  one, two = read_json(os.path.join(smoke_run, "results.json")), \
      read_json(os.path.join(tmp_path, "results.json"))
  assert two["processes"] == 2 and two["devices"] == 8
  # Same global batches, dropout masks and steps; only the cross-process gradient sum
  # (gloo) adds in another order, so values agree to float32 round-off, not bitwise.
  assert two["val/top1_accuracy"] == one["val/top1_accuracy"]
  assert two["val/loss"] == pytest.approx(one["val/loss"], rel=1e-5)
  a, b = final_state(smoke_run, 6), final_state(str(tmp_path), 6)
  for (key, x), (_, y) in zip(_flatten(a["params"]), _flatten(b["params"])):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6, err_msg=key)


class _FailingEvaluator:
  """An evaluator that fails in `check()` (before training) or in `run()` (as ROC does on
  a split without negatives), with the override that would help in its message."""

  def __init__(self, eval_config, *, name, **kwargs):
    del kwargs
    self.fail_at, self.name = eval_config.fail_at, name

  def check(self):
    if self.fail_at == "check":
      raise ValueError(f"no negatives: choose --config.evals.{self.name}.operating_split=SPLIT")

  def run(self, state, workdir):
    del state, workdir
    raise ValueError(f"no negatives: choose --config.evals.{self.name}.operating_split=SPLIT")


def _run_in_process(workdir, monkeypatch, fail_at):
  import sys
  import types
  import ml_collections
  from launch import config as config_lib, train
  monkeypatch.setitem(sys.modules, "zoo.evaluators.failing_for_test",
                      types.SimpleNamespace(Evaluator=_FailingEvaluator))
  config = config_lib.resolve(SMOKE.split("=")[1], [
      "--config.total_steps=2", "--config.eval_every_steps=1", "--config.data.num_eval=16",
      "--config.eval_batch_size=16"])
  with config.unlocked():
    config.evals.broken = ml_collections.ConfigDict(dict(type="failing_for_test",
                                                         fail_at=fail_at))
  return train.run(config, str(workdir))


def test_a_failing_evaluator_keeps_the_others_results_and_the_checkpoint(tmp_path, monkeypatch):
  from launch import train
  with pytest.raises(train.EvaluationError) as e:
    _run_in_process(tmp_path, monkeypatch, fail_at="run")
  results = read_json(tmp_path / "results.json")
  assert str(e.value) == (
      "evaluation 'broken' failed at step 2: ValueError: no negatives: choose "
      "--config.evals.broken.operating_split=SPLIT. The other results and this error are in "
      f"{tmp_path}/results.json; the checkpoint is kept, so the same command (with the fix) "
      "evaluates it again without training")
  assert results["failed_evaluations"] == {
      "broken": "ValueError: no negatives: choose --config.evals.broken.operating_split=SPLIT"}
  assert results["step"] == 2 and results["val/num_examples"] == 16
  assert 0 <= results["val/top1_accuracy"] <= 1
  metrics = read_metrics(tmp_path)  # the evaluation at step 1 failed too; training went on
  assert [m["step"] for m in metrics if "val/top1_accuracy" in m] == [1, 2]
  assert "2" in os.listdir(tmp_path / "checkpoints")


def test_an_evaluator_check_stops_the_run_before_training(tmp_path, monkeypatch):
  with pytest.raises(ValueError, match=r"^no negatives: choose --config.evals.broken.operating"):
    _run_in_process(tmp_path, monkeypatch, fail_at="check")
  assert sorted(os.listdir(tmp_path)) == [".lock", "config.json"]  # nothing trained or saved


def test_a_truncated_validation_shard_stops_the_run_before_training(tmp_path):
  import numpy as np
  from conftest import write_tfds_build
  from launch import config as config_lib, train
  rng = np.random.default_rng(0)
  record = lambda i: {"image": rng.integers(0, 256, (40, 50, 3), np.uint8), "label": i,
                      "file_name": f"n{i}.JPEG"}
  version_dir = write_tfds_build(tmp_path / "data", "imagenet2012", {
      "train": [[record(i) for i in range(16)]],
      "validation": [[record(i) for i in range(4)], [record(i) for i in range(4, 8)]]})
  shard = f"{version_dir}/imagenet2012-validation.array_record-00001-of-00002"
  with open(shard, "r+b") as f:
    f.truncate(os.path.getsize(shard) // 2)
  config = config_lib.resolve(SMOKE.split("=")[1], [
      "--config.data.name=imagenet", f"--config.data.dir={tmp_path / 'data'}",
      "--config.evals.val.split=validation"])
  with pytest.raises(ValueError) as e:
    train.run(config, str(tmp_path / "run"))
  assert str(e.value) == (
      f"split 'validation' of tfds 'imagenet2012': {shard} holds 0 readable records where the "
      "build wrote 4 (a truncated or damaged file); replace it from a fresh `tfds build`")
  assert sorted(os.listdir(tmp_path / "run")) == [".lock", "config.json"]


def test_summary_names_the_pictures_the_evaluators_drew(tmp_path):
  from launch import writers  # pylint: disable=import-outside-toplevel
  (tmp_path / "roc_test.png").write_bytes(b"")
  results = {"experiment": "dr_inception_v3:smoke", "step": 6, "train_steps_this_run": 6,
             "wall_time_s": 12.3, "data": {"stand_in": False, "description": "EyePACS (tfds)"},
             "test/auc": 0.8125, "test/num_examples": 64.0, "test/kappa": 0.5}
  assert writers.summary(results, str(tmp_path)).splitlines() == [
      "dr_inception_v3:smoke finished at step 6 (6 steps this run, 12 s)",
      "  data: EyePACS (tfds)",
      "  test/auc 0.8125   test/kappa 0.5",
      f"  results: {tmp_path}/results.json",
      f"  pictures: {tmp_path}/roc_test.png"]


def test_summary_shows_a_series_of_pictures_by_its_latest(tmp_path):
  from launch import writers  # pylint: disable=import-outside-toplevel
  for step in range(3, 203, 3):  # 67 sample grids, as gan_digits:smoke writes in 200 steps
    (tmp_path / f"samples_{step:06d}.png").write_bytes(b"")
  (tmp_path / "modes.png").write_bytes(b"")
  results = {"experiment": "gan_digits:smoke", "step": 200, "train_steps_this_run": 200,
             "wall_time_s": 5.0, "data": {}}
  assert writers.summary(results, str(tmp_path)).splitlines()[-1] == (
      f"  pictures: {tmp_path}/modes.png, {tmp_path}/samples_000201.png "
      "(latest of 67 samples_*.png)")


@pytest.mark.parametrize("task, batch_size, devices, expected", [
    ("video_embedding", 30, 8, 32), ("video_embedding", 4, 8, 8), ("video_embedding", 30, 2, 30),
    ("classification", 64, 8, 64), ("classification", 30, 8, "use 24 or 32"),
    ("adversarial", 4, 8, "use 8")])
def test_a_batch_that_does_not_split_over_the_devices_is_padded_or_refused(
    task, batch_size, devices, expected):
  import importlib  # pylint: disable=import-outside-toplevel
  from ml_collections import ConfigDict  # pylint: disable=import-outside-toplevel
  config = ConfigDict(dict(batch_size=batch_size, task=task))
  module = importlib.import_module(f"zoo.tasks.{task}")
  if isinstance(expected, int):
    assert train._train_rows(config, module, devices) == expected
    return
  with pytest.raises(ValueError, match=f"--config.batch_size={batch_size} does not split "
                     f"evenly over the {devices} devices of the mesh and task '{task}' does "
                     f"not train on padded batches; {expected}$"):
    train._train_rows(config, module, devices)
