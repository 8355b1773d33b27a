"""Ablation grids: one `launch.run` per setting of a grid, one results table for them all.

  python -m launch.sweep --experiment=NAME[:ARG] --workdir=DIR \
      --sweep='label_smoothing=0,0.1 ema=on,off' [--sweep_file=FILE] [--config.a.b=V ...]

The grid is the product of the axes, the first axis outermost. An axis is `KEY=V1,V2,...`
where KEY is a config path (`label_smoothing`, `data.random_flip`) or a switch of the
experiment module: an optional `SWITCHES = {"ema": {"on": {"ema_decay": 0.999}, "off":
{"ema_decay": 0.0}}}` (name -> value -> config overrides); a switch name takes precedence
over a config key of the same name. Axes are separated by whitespace; `--sweep_file`
holds the same syntax, one axis per line, `#` comments (its axes come before those of
`--sweep`). Commas and spaces inside brackets stay in one value, so tuples are written
as Python literals: `schedule.decay_epochs=(30,60),(20,40)`; a string value cannot hold
a comma or a space. `--config.*` overrides apply to every setting; an axis and an
override (or two axes) setting the same key are an error.

Everything is validated through `launch.config.resolve` before anything runs, so a typo
is a one-line `error: ...` naming the axis (exit 2), not a failure an hour in.

Each setting runs as `python -m launch.run` in `DIR/<setting>` (e.g.
`DIR/label_smoothing=0.1,ema=on`; characters unsafe in a file name become `_` and a hash
of the setting is appended), one after another, its output appended to
`DIR/<setting>/log.txt`. A setting whose `results.json` exists is skipped, an unfinished
one resumes from its checkpoint (`launch.run` does that itself), so re-running an
interrupted sweep finishes it. A failed run is marked failed and the sweep goes on; the
exit status is then 1. SIGTERM or Ctrl-C is passed on to the running `launch.run` as
SIGTERM (it saves a checkpoint and exits), then the sweep stops (exit 128 + signal).
`DIR/sweep.json` records the grid: a different grid in the same DIR is refused.
After every setting `DIR/sweep.md` and `DIR/sweep.csv` are rewritten: one row per
setting with its axis values, the evaluator metrics and `train_steps_per_s`,
`wall_time_s` of its `results.json`, whether its data was a stand-in, and its status
(done / skipped-done / failed / pending); `sweep.md` opens with the experiment and the
fixed overrides, `sweep.csv` repeats them in columns of their own.

Over several machines: `--shard=I/N` (I from 0, e.g. a scheduler's array index) runs
settings I, I+N, I+2N, ... of the grid; every shard may write into the same DIR on a
shared file system, and each one's tables show every setting that has finished (a failed
setting leaves `FAILED` in its folder for the others to see). `--report` only rebuilds
the tables from what has finished, running nothing.

With an axis named `seed` (or the axis `--aggregate=KEY` names), `DIR/sweep_mean.md` and
`.csv` give each metric's mean +- standard deviation (n - 1 in the denominator) over that
axis, one row per setting of the other axes, from the finished runs (n of them).
"""
import csv
import ctypes
import fcntl
import hashlib
import importlib
import io
import itertools
import json
import os
import shlex
import signal
import string
import subprocess
import sys
import time
from typing import NamedTuple

import numpy as np
from absl import app, flags

from launch import compilation_cache
from launch import config as config_lib
from launch.overrides import split_overrides

flags.DEFINE_string("experiment", None, "NAME[:ARG], as for launch.run.")
flags.DEFINE_string("workdir", None, "The sweep's folder: one sub-workdir per setting, "
                    "sweep.json, sweep.md, sweep.csv.")
flags.DEFINE_string("sweep", "", "Axes 'KEY=V1,V2 KEY2=V1,V2', the first outermost.")
flags.DEFINE_string("sweep_file", None, "A file of axes, one per line, '#' comments.")
flags.DEFINE_bool("dry_run", False, "Validate, print each setting's command line, exit.")
flags.DEFINE_string("shard", "0/1", "I/N: run settings I, I+N, ... of the grid (I from 0), "
                    "e.g. one job of a scheduler's array; tables show every finished setting.")
flags.DEFINE_bool("report", False, "Only rebuild the tables from the finished settings.")
flags.DEFINE_string("aggregate", "seed", "An axis to average over: mean +- std of each "
                    "metric per setting of the other axes in sweep_mean.md/.csv (if present).")
FLAGS = flags.FLAGS

RUN_METRICS = ("train_steps_per_s", "wall_time_s")
FINISHED = ("done", "skipped-done")
_SAFE = set(string.ascii_letters + string.digits + "._,=+-")
_MAX_NAME = 200


class Axis(NamedTuple):
  key: str  # a config path or a switch name
  values: tuple  # the values' text as given


class Setting(NamedTuple):
  name: str  # the sub-workdir's name
  values: dict  # axis key -> value text
  overrides: tuple  # 'a.b=TEXT' for launch.config


class SweepError(RuntimeError):
  """The sweep's folder cannot be used; the message says why."""


def parse_shard(text: str) -> tuple:
  """'I/N' -> (I, N), 0 <= I < N."""
  index, sep, count = text.partition("/")
  try:
    index, count = int(index), int(count)
  except ValueError:
    index = count = None
  if not sep or count is None or not 0 <= index < count:
    raise config_lib.ConfigError(f"--shard={text}: expected I/N with 0 <= I < N (I counts from 0)")
  return index, count


def _split_top_level(text: str, separators: str) -> list:
  """Splits `text` at `separators` outside brackets, so `(30, 60)` stays one piece."""
  pieces, current, depth = [], [], 0
  for char in text:
    depth += (char in "([{") - (char in ")]}")
    if depth < 0:
      raise config_lib.ConfigError(f"unbalanced brackets in '{text}'")
    if depth == 0 and char in separators:
      pieces.append("".join(current))
      current = []
    else:
      current.append(char)
  if depth:
    raise config_lib.ConfigError(f"unbalanced brackets in '{text}'")
  return pieces + ["".join(current)]


def parse_axes(text: str) -> list:
  """'k=v1,v2 k2=v3' (whitespace or newlines between axes) -> [Axis, ...]."""
  axes = []
  for item in _split_top_level(text, " \t\n"):
    if not item:
      continue
    key, sep, values = item.partition("=")
    if not sep or not key:
      raise config_lib.ConfigError(f"axis '{item}' is not of the form KEY=V1,V2,...")
    values = tuple(v.strip() for v in _split_top_level(values, ","))
    if not all(values):
      raise config_lib.ConfigError(f"axis '{key}' has an empty value in '{item}'")
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
      raise config_lib.ConfigError(f"axis '{key}' repeats {', '.join(repeated)}")
    axes.append(Axis(key, values))
  return axes


def read_sweep_file(path: str) -> list:
  """The axes of a file: one per line, `#` starts a comment."""
  try:
    with open(path) as f:
      lines = [line.split("#", 1)[0] for line in f]
  except OSError as e:
    raise config_lib.ConfigError(f"--sweep_file={path}: {e.strerror}") from None
  return parse_axes("\n".join(lines))


def experiment_switches(spec: str) -> dict:
  """The experiment module's `SWITCHES` (name -> value -> overrides), or {}."""
  name = spec.partition(":")[0]
  return getattr(importlib.import_module(f"experiments.{name}"), "SWITCHES", {})


def _key(override: str) -> str:
  return override.removeprefix("--").removeprefix("config.").partition("=")[0]


def _value_overrides(axis: Axis, value: str, switches: dict) -> tuple:
  if axis.key not in switches:
    return (f"{axis.key}={value}",)
  options = switches[axis.key]
  if value not in options:
    raise config_lib.ConfigError(f"axis '{axis.key}': unknown value '{value}' of switch "
                                 f"'{axis.key}'; known: {', '.join(options)}")
  return tuple(f"{k}={config_lib.as_text(v)}" for k, v in options[value].items())


def _check_disjoint(axes, options, overrides):
  """No config key may be set by two axes, or by an axis and a `--config.*` override."""
  owner = {_key(o): f"--config.{_key(o)}" for o in overrides}
  for i, (axis, axis_options) in enumerate(zip(axes, options)):
    if axis.key in (other.key for other in axes[:i]):
      raise config_lib.ConfigError(f"axis '{axis.key}' is given twice")
    keys = sorted({_key(o) for value_overrides in axis_options for o in value_overrides})
    for key in keys:
      if key in owner:
        raise config_lib.ConfigError(f"axis '{axis.key}' and {owner[key]} both set '{key}'")
    owner.update({key: f"axis '{axis.key}'" for key in keys})


def setting_name(values: dict) -> str:
  """'k=v,k2=v2', safe as a file name; a hash keeps sanitised names distinct."""
  raw = ",".join(f"{k}={v}" for k, v in values.items())
  name = "".join(c if c in _SAFE else "_" for c in raw)
  if name != raw or len(name) > _MAX_NAME:
    name = f"{name[:_MAX_NAME]}-{hashlib.sha1(raw.encode()).hexdigest()[:8]}"
  return name


def expand(spec: str, axes: list, overrides=()) -> list:
  """Validates the grid through `launch.config.resolve`; its settings, first axis outermost.

  Raises `ConfigError` naming the axis (or setting) at fault.
  """
  if not axes:
    raise config_lib.ConfigError("no axes: give --sweep='KEY=V1,V2 ...' or --sweep_file")
  config_lib.resolve(spec, overrides)  # the experiment, its variant, the shared overrides
  switches = experiment_switches(spec)
  options = [[_value_overrides(axis, v, switches) for v in axis.values] for axis in axes]
  _check_disjoint(axes, options, overrides)
  for axis, axis_options in zip(axes, options):
    for value_overrides in axis_options:
      try:
        config_lib.resolve(spec, [*overrides, *value_overrides])
      except config_lib.ConfigError as e:
        raise config_lib.ConfigError(f"axis '{axis.key}': {e}") from None
  settings = []
  for combo in itertools.product(*[list(zip(a.values, o)) for a, o in zip(axes, options)]):
    values = {axis.key: value for axis, (value, _) in zip(axes, combo)}
    setting = Setting(setting_name(values), values, tuple(o for _, vo in combo for o in vo))
    try:
      config_lib.resolve(spec, [*overrides, *setting.overrides])
    except config_lib.ConfigError as e:
      raise config_lib.ConfigError(f"setting {setting.name}: {e}") from None
    settings.append(setting)
  return settings


def command(spec: str, workdir: str, setting: Setting, overrides=()) -> list:
  """The `launch.run` command line of one setting."""
  return [sys.executable, "-m", "launch.run", f"--experiment={spec}",
          f"--workdir={os.path.join(workdir, setting.name)}", *overrides,
          *(f"--config.{o}" for o in setting.overrides)]


def _describe(field: str, value) -> str:
  """A field of sweep.json as it is written on the command line."""
  if field == "axes" and value is not None:
    return "'" + " ".join(f"{key}={','.join(values)}" for key, values in value) + "'"
  if field == "overrides" and value is not None:
    return "'" + " ".join(value) + "'" if value else "none"
  return repr(value)


def _write_atomically(path: str, text: str):
  """Other shards may read or write the same file at the same time."""
  with open(f"{path}.{os.getpid()}.tmp", "w", newline="") as f:
    f.write(text)
  os.replace(f"{path}.{os.getpid()}.tmp", path)


def check_grid(workdir: str, grid: dict):
  """Raises `SweepError` if `DIR/sweep.json` records another grid."""
  path = os.path.join(workdir, "sweep.json")
  if os.path.exists(path):
    with open(path) as f:
      before = json.load(f)
    differs = [k for k in grid if before.get(k) != grid[k]]
    if differs:
      diff = "; ".join(f"{k}: {_describe(k, before.get(k))} -> {_describe(k, grid[k])}"
                       for k in differs)
      raise SweepError(f"{path} holds another sweep ({diff}); re-run it with the same "
                       "grid or use another --workdir")


def claim(workdir: str, grid: dict, shard=(0, 1)):
  """Refuses a DIR holding another grid, locks it (the shard of it) against a second sweep,
  records the grid.

  Returns the lock (keep it open).
  """
  check_grid(workdir, grid)
  os.makedirs(workdir, exist_ok=True)
  index, count = shard
  name = ".sweep.lock" if count == 1 else f".sweep-{index}-of-{count}.lock"
  lock = open(os.path.join(workdir, name), "a+")
  try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except BlockingIOError:
    lock.close()
    what = "another sweep" if count == 1 else f"another sweep of shard {index}/{count}"
    raise SweepError(f"--workdir={workdir} is in use by {what}") from None
  _write_atomically(os.path.join(workdir, "sweep.json"), json.dumps(grid, indent=2))
  return lock


def read_results(run_dir: str):
  """The run's `results.json`, or None when it has none (or a half-written one)."""
  try:
    with open(os.path.join(run_dir, "results.json")) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def _metrics(results: dict) -> dict:
  return {k: v for k, v in results.items()
          if ("/" in k or k in RUN_METRICS) and isinstance(v, (int, float))
          and not isinstance(v, bool)}


def _data_kind(results) -> str:
  if not results or "data" not in results:
    return ""
  return "stand-in" if results["data"].get("stand_in") else "real"


def table(workdir: str, axes: list, settings: list, statuses: dict):
  """(header, rows): the axis values, the final metrics of each run, its data (stand-in or
  real), its status."""
  results = {s.name: read_results(os.path.join(workdir, s.name)) or {}
             for s in settings if statuses[s.name] in FINISHED}
  metrics = {name: _metrics(r) for name, r in results.items()}
  evaluator_keys = sorted({k for m in metrics.values() for k in m if "/" in k})
  keys = [*evaluator_keys, *RUN_METRICS]
  header = [*(a.key for a in axes), *keys, "data", "status"]
  rows = [[*s.values.values(), *(metrics.get(s.name, {}).get(k) for k in keys),
           _data_kind(results.get(s.name)), statuses[s.name]] for s in settings]
  return header, rows


def aggregate(header: list, rows: list, axes: list, key: str):
  """(header, rows) of the mean and sample standard deviation of every metric over axis
  `key`, one row per setting of the other axes (finished runs only); None without that axis."""
  names = [a.key for a in axes]
  if key not in names:
    return None
  others = [i for i, name in enumerate(names) if name != key]
  metric_columns = range(len(names), len(header) - 2)
  groups = {}
  for row in rows:
    group = groups.setdefault(tuple(row[i] for i in others), [])
    if row[-1] in FINISHED:
      group.append(row)
  out_header = [*(names[i] for i in others), "n", *(header[i] for i in metric_columns)]
  out_rows = []
  for group_values, group in groups.items():
    cells = []
    for i in metric_columns:
      values = [row[i] for row in group if row[i] is not None]
      mean = float(np.mean(values)) if values else None
      std = float(np.std(values, ddof=1)) if len(values) > 1 else None
      cells.append((mean, std))
    out_rows.append([*group_values, len(group), *cells])
  return out_header, out_rows


def _mean_std_cell(value) -> str:
  if not isinstance(value, tuple):
    return _cell(value)
  mean, std = value
  if mean is None:
    return ""
  return f"{mean:.4g} +- {std:.2g}" if std is not None else f"{mean:.4g}"


def _preamble(grid: dict, rows: list, what: str) -> str:
  overrides = " ".join(grid.get("overrides") or []) or "none"
  kinds = {row[-2] for row in rows if row[-2]}
  data = {frozenset({"stand-in"}): "STAND-IN data (not a real dataset) in every finished run",
          frozenset({"real"}): "real data in every finished run",
          frozenset(): "no run has finished yet"}.get(frozenset(kinds),
                                                      "mixed: see the data column")
  return (f"{what} of `{grid['experiment']}`; fixed overrides: `{overrides}`; "
          f"data: {data}.\n\n")


def _cell(value) -> str:
  if value is None:
    return ""
  return f"{value:.4g}" if isinstance(value, float) else str(value)


def markdown(header: list, rows: list) -> str:
  cells = [header, *([_mean_std_cell(v) for v in row] for row in rows)]
  widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
  lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |" for row in cells]
  lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
  return "\n".join(lines)


def _csv_text(header: list, rows: list) -> str:
  out = io.StringIO()
  writer = csv.writer(out)
  writer.writerow(header)
  writer.writerows([["" if v is None else v for v in row] for row in rows])
  return out.getvalue()


def write_tables(workdir: str, grid: dict, axes: list, settings: list, statuses: dict,
                 aggregate_key: str = "seed") -> str:
  """Writes `sweep.md` and `sweep.csv` (and `sweep_mean.*` when an axis is `aggregate_key`);
  returns the Markdown."""
  header, rows = table(workdir, axes, settings, statuses)
  text = _preamble(grid, rows, "Sweep") + markdown(header, rows)
  _write_atomically(os.path.join(workdir, "sweep.md"), text + "\n")
  fixed = {"experiment": grid["experiment"],
           "fixed_overrides": " ".join(grid.get("overrides") or [])}
  _write_atomically(os.path.join(workdir, "sweep.csv"), _csv_text(
      [*header, *fixed], [[*row, *fixed.values()] for row in rows]))
  means = aggregate(header, rows, axes, aggregate_key)
  if means:
    mean_header, mean_rows = means
    mean_text = (_preamble(grid, rows, f"Mean +- standard deviation over `{aggregate_key}`, sweep")
                 + markdown(mean_header, mean_rows))
    _write_atomically(os.path.join(workdir, "sweep_mean.md"), mean_text + "\n")
    metric_start = mean_header.index("n") + 1
    flat_header = [*mean_header[:metric_start],
                   *(f"{h}_{kind}" for h in mean_header[metric_start:] for kind in ("mean", "std")),
                   *fixed]
    flat_rows = [[*row[:metric_start], *(v for cell in row[metric_start:] for v in cell),
                  *fixed.values()] for row in mean_rows]
    _write_atomically(os.path.join(workdir, "sweep_mean.csv"), _csv_text(flat_header, flat_rows))
    text += "\n\n" + mean_text
  return text


class _Interrupt:
  """SIGTERM/SIGINT: passed on to the running `launch.run` as SIGTERM (it saves a
  checkpoint and exits); the sweep then stops."""

  def __init__(self):
    self.signum, self.proc = None, None
    for signum in (signal.SIGTERM, signal.SIGINT):
      signal.signal(signum, self._handle)

  def _handle(self, signum, frame):
    del frame
    self.signum = signum
    if self.proc is not None and self.proc.poll() is None:
      self.proc.send_signal(signal.SIGTERM)


def _die_with_parent():
  """In the child (Linux): SIGTERM when the sweep dies, even by SIGKILL, so no run is
  left training on its own."""
  ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


def _error_line(log_path: str, start: int) -> str:
  """The run's `error: ...` line (else its last line) from what it appended to its log."""
  with open(log_path, errors="replace") as f:
    f.seek(start)
    lines = [line.strip() for line in f if line.strip()]
  errors = [line for line in lines if line.startswith("error: ")]
  return (errors or lines or ["no output"])[-1]


def status_on_disk(run_dir: str) -> str:
  """The status of a setting another shard (or an earlier sweep) ran: done, failed, pending."""
  if read_results(run_dir) is not None:
    return "done"
  return "failed" if os.path.exists(os.path.join(run_dir, "FAILED")) else "pending"


def run_setting(argv: list, run_dir: str, interrupt: _Interrupt) -> str:
  """Runs one `launch.run`, output appended to `run_dir/log.txt`; returns its status (a
  failure also leaves `run_dir/FAILED`, with the error, for other shards' tables)."""
  log_path = os.path.join(run_dir, "log.txt")
  failed_path = os.path.join(run_dir, "FAILED")
  start_time = time.time()
  try:
    os.makedirs(run_dir, exist_ok=True)
    log = open(log_path, "a")
    if os.path.exists(failed_path):
      os.remove(failed_path)
  except OSError as e:
    print(f"  failed: cannot write {log_path}: {e.strerror}", flush=True)
    return "failed"
  with log:
    log.write(f"=== sweep {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(argv)}\n")
    log.flush()
    start = log.tell()
    env = dict(os.environ, PYTHONUNBUFFERED="1",  # the settings share the sweep's cache
               **{compilation_cache.ENV: FLAGS.compilation_cache_dir})
    interrupt.proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env,
        start_new_session=True,  # Ctrl-C reaches the sweep only, which stops the run cleanly
        preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    if interrupt.signum:  # a signal between the fork and the line above
      interrupt.proc.send_signal(signal.SIGTERM)
    returncode = interrupt.proc.wait()
    interrupt.proc = None
  seconds = time.time() - start_time
  if read_results(run_dir) is not None:
    print(f"  done in {seconds:.0f} s", flush=True)
    return "done"
  if interrupt.signum or returncode == 0:  # exit 0 without results: it was preempted
    print(f"  interrupted after {seconds:.0f} s; a re-run resumes it", flush=True)
    return "pending"
  error = _error_line(log_path, start)
  print(f"  failed (exit {returncode}) after {seconds:.0f} s: {error}\n  log: {log_path}",
        flush=True)
  try:
    with open(failed_path, "w") as f:
      f.write(f"exit {returncode}: {error}\n")
  except OSError:
    pass
  return "failed"


def run_grid(spec: str, workdir: str, axes: list, settings: list, overrides=(), *,
             grid: dict, shard=(0, 1), aggregate_key: str = "seed") -> int:
  """Runs this shard's settings in order, skipping finished ones; returns the exit status."""
  interrupt = _Interrupt()
  index, count = shard
  mine = settings[index::count]
  statuses = {s.name: status_on_disk(os.path.join(workdir, s.name)) for s in settings}

  def tables():
    for s in settings:  # other shards' progress
      if s not in mine:
        statuses[s.name] = status_on_disk(os.path.join(workdir, s.name))
    return write_tables(workdir, grid, axes, settings, statuses, aggregate_key)

  for s in mine:
    statuses[s.name] = "pending"
  text = tables()
  for i, setting in enumerate(mine, 1):
    if interrupt.signum:
      break
    run_dir = os.path.join(workdir, setting.name)
    if read_results(run_dir) is not None:
      print(f"[{i}/{len(mine)}] {setting.name}: skipped, already done", flush=True)
      statuses[setting.name] = "skipped-done"
    else:
      print(f"[{i}/{len(mine)}] {setting.name}: running (log: "
            f"{os.path.join(run_dir, 'log.txt')})", flush=True)
      statuses[setting.name] = run_setting(command(spec, workdir, setting, overrides),
                                           run_dir, interrupt)
    text = tables()
  print(f"\n{text}\n\n(tables: {os.path.join(workdir, 'sweep.md')}, sweep.csv)")
  if interrupt.signum:
    return 128 + interrupt.signum
  return 0 if all(statuses[s.name] in FINISHED for s in mine) else 1


def _fail(message: str):
  print(f"error: {message}", file=sys.stderr)
  sys.exit(2)


def main(overrides):
  if not FLAGS.experiment:
    _fail("--experiment=NAME[:ARG] is required (see python -m launch.run --list)")
  try:
    axes = read_sweep_file(FLAGS.sweep_file) if FLAGS.sweep_file else []
    axes += parse_axes(FLAGS.sweep)
    settings = expand(FLAGS.experiment, axes, overrides)
    shard = parse_shard(FLAGS.shard)
    if FLAGS["aggregate"].present and FLAGS.aggregate not in [a.key for a in axes]:
      raise config_lib.ConfigError(f"--aggregate={FLAGS.aggregate} is not an axis of the sweep")
  except config_lib.ConfigError as e:
    _fail(str(e))
  if not FLAGS.workdir:
    _fail("--workdir=DIR is required")
  mine = settings[shard[0]::shard[1]]
  if FLAGS.dry_run:
    for setting in mine:
      print(shlex.join(command(FLAGS.experiment, FLAGS.workdir, setting, overrides)))
    return
  grid = {"experiment": FLAGS.experiment, "axes": [[a.key, list(a.values)] for a in axes],
          "overrides": list(overrides)}
  if FLAGS.report:
    statuses = {s.name: status_on_disk(os.path.join(FLAGS.workdir, s.name)) for s in settings}
    try:
      check_grid(FLAGS.workdir, grid)  # no lock: shards may be running
    except (SweepError, OSError) as e:
      _fail(str(e))
    print(write_tables(FLAGS.workdir, grid, axes, settings, statuses, FLAGS.aggregate))
    return
  try:
    lock = claim(FLAGS.workdir, grid, shard)
  except (SweepError, OSError) as e:
    _fail(str(e))
  with lock:
    sys.exit(run_grid(FLAGS.experiment, FLAGS.workdir, axes, settings, overrides, grid=grid,
                      shard=shard, aggregate_key=FLAGS.aggregate))


if __name__ == "__main__":
  app.run(main, flags_parser=split_overrides)
