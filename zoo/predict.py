"""Applying a trained run to the user's own files: `load(workdir).predict(inputs)`.

A workdir is enough: its `config.json` names the task, the data and the model, its
checkpoint holds the weights. Each task has a formatter next to it
(`zoo/tasks/TASK_predict.py`, a `Predictor` subclass) that reads the user's files with
the data module's own evaluation `preprocess`, runs the task's `predict_fn` in batches
sharded over every device (padded with masked rows, as evaluation pads its last batch,
so any number of inputs works) and turns the outputs into rows, a Markdown summary and
pictures. `python -m launch.predict` is the command line over the same code. Nothing in
the workdir is written.

    import zoo.predict
    run = zoo.predict.load("runs/imagenet_vgg_f_synthetic")
    rows = run.predict(["photos/"], crops="ten")  # one dict per readable input
    run.skipped                                   # [(path, why)] of the others
    run.write("out/", rows)                       # predictions.csv, summary.md, pictures
"""
import csv
import glob
import importlib
import json
import math
import os

import jax
import ml_collections
import numpy as np
import tqdm
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zoo import checkpoints
from zoo.data import bad_records, pipeline
from zoo.models import conv


class PredictError(ValueError):
  """The inputs or the run cannot be predicted with; the message is one line."""


def read_config(workdir: str) -> ml_collections.ConfigDict:
  path = os.path.join(workdir, "config.json")
  if not os.path.isfile(path):
    raise PredictError(f"{workdir} is not a run's workdir (it has no config.json)")
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def expand_inputs(inputs, extensions=None) -> tuple:
  """Files, folders (every file under them, sorted) and globs -> (file paths, each once;
  [(path, why)] of files in folders that do not end in `extensions`). A folder with no
  such file or a pattern matching nothing is a PredictError."""
  paths, others = [], []
  for item in inputs:
    item = os.fspath(item)
    if os.path.isdir(item):
      found = sorted(os.path.join(d, f) for d, _, files in os.walk(item) for f in files
                     if not f.startswith("."))
      if extensions:
        others += [(p, f"not a {'/'.join(e[1:] for e in extensions)} file")
                   for p in found if not p.lower().endswith(extensions)]
        found = [p for p in found if p.lower().endswith(extensions)]
      if not found:
        what = f"no {'/'.join(e[1:] for e in extensions)} file" if extensions else "no file"
        raise PredictError(f"{item}: the folder holds {what}")
      paths += found
    elif os.path.exists(item):
      paths.append(item)
    else:
      found = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
      if not found:
        raise PredictError(f"{item}: no such file, folder or matching pattern")
      paths += found
  if not paths:
    raise PredictError("no inputs given")
  return list(dict.fromkeys(paths)), others


class FileSource:
  """A random-access source of `read(path)` over a list of files; each record carries its
  `index` in the list and its `path` (so bad ones are reported by file)."""

  def __init__(self, paths, read):
    self.paths, self.read = list(paths), read

  def __len__(self):
    return len(self.paths)

  def locate(self, i) -> str:
    return self.paths[i]

  def __getitem__(self, i):
    return {**self.read(self.paths[i]), "index": np.int32(i), "path": self.paths[i]}


def write_table(path: str, rows: list):
  """Rows as CSV (columns in first-seen order; lists joined by spaces) or, for `.jsonl`,
  one JSON object per line."""
  with open(path, "w", newline="") as f:
    if path.endswith(".jsonl"):
      for row in rows:
        f.write(json.dumps(row) + "\n")
      return
    columns = list(dict.fromkeys(k for row in rows for k in row))
    writer = csv.DictWriter(f, columns)
    writer.writeheader()
    for row in rows:
      writer.writerow({k: " ".join(map(str, v)) if isinstance(v, (list, tuple)) else v
                       for k, v in row.items()})


def markdown_table(rows: list, columns=None, limit: int = 50) -> str:
  columns = columns or list(dict.fromkeys(k for row in rows for k in row))
  def cell(v):
    return f"{v:.4f}" if isinstance(v, float) else str(v)
  lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
  lines += ["| " + " | ".join(cell(row.get(k, "")) for k in columns) + " |"
            for row in rows[:limit]]
  if len(rows) > limit:
    lines.append(f"\n({len(rows) - limit} more rows in the table file)")
  return "\n".join(lines)


class Predictor:
  """A trained run on this process's devices: `config`, `data` (the data module), `task`,
  `state` (replicated on a mesh with one `data` axis, as in training). Subclasses (one per
  task) give `predict(inputs, **options) -> rows` and `write(out_dir, rows) -> paths`."""

  def __init__(self, workdir: str, checkpoint: str = "latest"):
    self.workdir, self.config = workdir, read_config(workdir)
    try:
      self.state_dir = checkpoints.run_state_dir(workdir, checkpoint)
    except FileNotFoundError as e:
      raise PredictError(str(e)) from None
    self.data = pipeline.data_module(self.config.data)
    task_module = importlib.import_module(f"zoo.tasks.{self.config.task}")
    # Schedules only: no step count changes the shapes of the state.
    self.task = task_module.Task(self.config, data=self.data, steps_per_epoch=1,
                                 total_steps=max(1, self.config.get("total_steps") or 1))
    self.devices = jax.devices()
    mesh = Mesh(np.asarray(self.devices), ("data",))
    self.replicated = NamedSharding(mesh, P())
    self.data_sharding = NamedSharding(mesh, P("data"))
    self.compiler_options = conv.compiler_options(self.config.get("cpu_convolutions"))
    abstract = jax.eval_shape(self.task.init, jax.random.key(0))
    target = jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=self.replicated), abstract)
    self.state = checkpoints.restore(self.state_dir, target)
    self.skipped = []  # [(path, why)] of the last predict()'s unreadable inputs
    self._jitted = {}

  def input_files(self, inputs, extensions):
    """`expand_inputs`; starts `skipped` with the files of other kinds found in folders."""
    paths, self.skipped = expand_inputs(inputs, extensions)
    return paths

  def jit(self, fn, key=None):
    """`fn(state, batch)` compiled with the run's convolution library; with `key`, the
    function compiled for that key before (so a second `predict` does not compile again)."""
    if key is None:
      return jax.jit(fn, compiler_options=self.compiler_options)
    if key not in self._jitted:
      self._jitted[key] = jax.jit(fn, compiler_options=self.compiler_options)
    return self._jitted[key]

  def to_device(self, batch):
    return jax.tree.map(lambda x: jax.device_put(np.asarray(x), self.data_sharding), batch)

  def batch_size(self, count: int) -> int:
    """The run's evaluation batch, or less for few inputs, a multiple of the devices."""
    d = len(self.devices)
    most = max(d, self.config.eval_batch_size // d * d)
    return min(most, d * math.ceil(count / d))

  def open_files(self, paths, read, validate=None):
    """`FileSource` of `paths` where a file `read` or `validate` fails on reads as None
    (left out), with why in `self.skipped` after the pass."""
    return bad_records.GuardedSource(
        FileSource(paths, read), validate or (lambda record: None), name="inputs",
        max_bad_fraction=1.0, locate=lambda i: paths[i], substitute=False)

  def run_batches(self, source, fn, preprocess, state=None, desc="predict"):
    """`fn(state, device batch)` (default: this run's state) over every good record of
    `source` (a GuardedSource) -> (indices of the good records, host outputs concatenated
    over them); sets `skipped`."""
    state = self.state if state is None else state
    def with_index(record, rng):
      return {**preprocess(record, rng), "index": np.int32(record["index"])}

    indices, parts = [], []
    size = self.batch_size(len(source))
    batches = pipeline.eval_batches(self.config.data, source, local_batch_size=size,
                                    preprocess=with_index)
    def fetch(pending):
      index, keep, out = pending
      indices.append(index[keep])
      parts.append(jax.tree.map(lambda x: np.asarray(x)[keep], jax.device_get(out)))
      bar.update(int(keep.sum()))

    with tqdm.tqdm(total=len(source), desc=desc, unit="input", mininterval=1.0) as bar:
      pending = None
      try:
        for batch in batches:  # a batch's outputs are fetched once the next one is queued
          keep = batch["mask"] > 0
          index = batch.pop("index")
          out = fn(state, self.to_device(batch))
          if pending:
            fetch(pending)
          pending = (index, keep, out)
      except IndexError:  # eval_batches found no good record to pad with
        if parts or pending:
          raise
      if pending:
        fetch(pending)
      bar.update(len(source) - bar.n)  # the skipped ones
    self.skipped += [tuple(e.split(": ", 1)) for e in source.examples(limit=None)]
    if not parts:
      raise PredictError("no input could be read: " + "; ".join(source.examples()[:3]))
    outputs = jax.tree.map(lambda *xs: np.concatenate(xs), *parts)
    return np.concatenate(indices), outputs

  def summary_header(self) -> str:
    stand_in = pipeline.is_stand_in(self.data, self.config.data)
    return (f"Run: `{self.workdir}` ({self.config.experiment}, checkpoint "
            f"`{self.state_dir.parent.name}`), data: {self.data.DESCRIPTION}"
            f"{' [STAND-IN]' if stand_in else ''}\n")

  def skipped_markdown(self) -> str:
    if not self.skipped:
      return ""
    return ("\n## Skipped inputs\n\n" + "\n".join(f"- `{p}`: {why}" for p, why in self.skipped)
            + "\n")


def contact_sheet(path: str, images, captions, columns: int = 6, title: str = ""):
  """Images (uint8 HWC) in a grid, each with its caption below, as one PNG."""
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  rows = max(1, math.ceil(len(images) / columns))
  columns = min(columns, max(1, len(images)))
  fig = Figure(figsize=(2.2 * columns, 2.5 * rows + (0.4 if title else 0)), dpi=100)
  axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
  for ax in axes:
    ax.axis("off")
  for ax, image, caption in zip(axes, images, captions):
    ax.imshow(np.asarray(image).squeeze(), cmap="gray" if np.asarray(image).ndim == 2 or
              np.asarray(image).shape[-1] == 1 else None)
    ax.set_title(caption, fontsize=7)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path)


def predictor_class(task: str):
  try:
    module = importlib.import_module(f"zoo.tasks.{task}_predict")
  except ModuleNotFoundError:
    raise PredictError(f"task '{task}' has no predict (no zoo/tasks/{task}_predict.py)") \
        from None
  return module.Predictor


def load(workdir: str, checkpoint: str = "latest") -> Predictor:
  """The run in `workdir` (its `checkpoint`: latest, best or a step) ready to predict."""
  return predictor_class(read_config(workdir).task)(workdir, checkpoint)
