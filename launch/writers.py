"""Metric writers: `DIR/metrics.jsonl` (one JSON object per logged step) and TensorBoard
event files (tensorboardX, no TensorFlow). Only process 0 writes."""
import collections
import json
import os
import re

from absl import logging
from tensorboardX import SummaryWriter


class _QuietLibraries:
  """Keeps orbax's and grain's per-save INFO chatter out of the run's log, and jax's
  start-up probing of backends that are not there (`Unable to initialize backend 'tpu'`
  on every CPU or GPU machine). Only INFO records are dropped: a backend the user asked
  for with JAX_PLATFORMS still fails loudly, and the GPU is still found (the probing
  itself is untouched)."""

  def filter(self, record):
    if record.levelno >= 30:
      return True
    if record.pathname.endswith("xla_bridge.py") and \
        str(record.msg).startswith("Unable to initialize backend"):
      return False
    return not any(part in record.pathname for part in ("/orbax/", "/grain/", "/etils/"))


def quiet_library_logs():
  logging.get_absl_handler().addFilter(_QuietLibraries())


class MetricWriter:

  def __init__(self, workdir: str, *, enabled: bool, resume_step: int = 0):
    self.enabled = enabled
    if not enabled:
      return
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._drop_after(resume_step)  # a resumed run rewrites what came after its checkpoint
    self.file = open(self.path, "a")
    # TensorBoard drops events at or after purge_step from earlier runs: those after the
    # checkpoint, as metrics.jsonl (the checkpoint's own step was logged before it was saved).
    self.tb = SummaryWriter(os.path.join(workdir, "tensorboard"),
                            purge_step=resume_step + 1 if resume_step else None)

  def _drop_after(self, step: int):
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      kept = [line for line in f if line.strip() and json.loads(line)["step"] <= step]
    with open(self.path + ".tmp", "w") as f:
      f.writelines(kept)
    os.replace(self.path + ".tmp", self.path)

  def write(self, step: int, metrics: dict):
    if not self.enabled:
      return
    try:
      self.file.write(json.dumps({"step": int(step), **metrics}) + "\n")
      self.file.flush()
    except OSError as e:  # e.g. a full disk: name the file
      raise OSError(e.errno, f"cannot write {self.path}: {e.strerror}") from None
    for name, value in metrics.items():
      if isinstance(value, (int, float)):
        self.tb.add_scalar(name, value, step)

  def close(self):
    if self.enabled:
      self.file.close()
      self.tb.close()


def summary(results: dict, workdir: str) -> str:
  """The end of a run in a few lines: what ran on which data, the evaluators' metrics, where
  results.json and the pictures the evaluators drew are."""
  data = results.get("data", {})
  if results.get("already_finished"):
    head = (f"{results['experiment']} had already finished at step {results['step']}; "
            "nothing was run, its results:")
  else:
    head = (f"{results['experiment']} finished at step {results['step']} "
            f"({results['train_steps_this_run']} steps this run, {results['wall_time_s']:.0f} s)")
  lines = [head, f"  data: {'STAND-IN, ' if data.get('stand_in') else ''}"
                 f"{data.get('description', data.get('name', '?'))}"]
  metrics = [f"{k} {v:.4g}" for k, v in results.items()
             if "/" in k and isinstance(v, float) and not k.endswith("/num_examples")]
  for i in range(0, len(metrics), 4):
    lines.append("  " + "   ".join(metrics[i:i + 4]))
  for key, mean in results.items():  # a figure over several runs (e.g. zero-shot splits)
    if key.endswith("/mean_top1_accuracy"):
      name = key[:-len("/mean_top1_accuracy")]
      chance = results.get(f"{name}/chance")
      lines.append(f"  {name}: top-1 {mean:.4f} +- {results[f'{name}/std_top1_accuracy']:.4f} "
                   f"over {results.get(f'{name}/num_splits')} splits"
                   + (f" (chance {chance:.4f})" if chance is not None else ""))
  for key, value in results.items():  # Markdown tables the evaluators made
    if key.endswith("/table") and isinstance(value, str):
      lines += [f"  {key}:"] + ["    " + row for row in value.strip().splitlines()]
  if data.get("bad_train_records"):
    lines.append(f"  {data['bad_train_records']} bad training records skipped (see results.json)")
  best = results.get("best_checkpoint")
  if best and best.get("step") is not None:
    lines.append(f"  best {best['metric']} {best['value']:.4g} at step {best['step']}: "
                 f"{best['directory']} (--config.init_from={workdir}:best)")
  lines.append(f"  results: {os.path.join(workdir, 'results.json')}")
  for kind, ending in (("pictures", ".png"), ("tables", ".md")):
    files = _latest_of_each_series(sorted(f for f in os.listdir(workdir) if f.endswith(ending)))
    if files:
      lines.append(f"  {kind}: {', '.join(os.path.join(workdir, f) for f in files)}")
  return "\n".join(lines)


_STEP = re.compile(r"^(.*)_(\d+)(\.\w+)$")


def _latest_of_each_series(files: list) -> list:
  """File names, a series written every few steps (`samples_000200.png`, ...) shown as its
  latest file and its count: 'samples_001000.png (latest of 67 samples_*.png)'."""
  series = collections.defaultdict(list)
  for name in files:
    match = _STEP.match(name)
    series[(match.group(1), match.group(3)) if match else name].append(name)
  shown = []
  for key, names in series.items():
    if len(names) == 1:
      shown.append(names[0])
    else:
      latest = max(names, key=lambda n: int(_STEP.match(n).group(2)))
      shown.append(f"{latest} (latest of {len(names)} {key[0]}_*{key[1]})")
  return sorted(shown)
