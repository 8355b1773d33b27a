"""`python -m launch.run --experiment=NAME[:ARG] --describe`: the network of a config,
layer by layer, without data, a workdir or any computation.

The model is built as the task builds it (`zoo.tasks.classification.build_model` with the
data module's `NUM_CLASSES`) and initialised under `jax.eval_shape` on one
`data.image_size`^2 RGB image in evaluation mode, while `flax.linen.intercept_methods`
records every call of a layer module: `zoo.models.conv.Conv` (the zoo's only
convolution), `nn.Dense`, the pools of `zoo.models.layers`, `nn.BatchNorm` and `nn.Dropout`.

FLOPs are 2 x multiply-adds of convolutions and dense layers per example, counted as
papers count them (every kernel tap at every output position); biases, activations,
pools and normalisations are not counted. XLA's cost analysis leaves out the taps that
fall on zero padding (7.7% of VGG-F's FLOPs at 224, 31% at 64x64), so the totals give
that count too: XLA's figure for the jitted forward pass is 0.4% (VGG-F) to 0.85%
(GoogLeNet) above it, the elementwise work. Layers that run in evaluation mode but whose
results are unused there (GoogLeNet's auxiliary classifiers) are listed and counted.

Training-only heads (GoogLeNet's two auxiliary classifiers, Inception-v3's one) are found,
for any network, as the parameters the evaluation forward pass does not use: the traced
`model.apply(..., train=False)` with dead code removed (jax's `dce_jaxpr`) reads no input
of theirs. The totals give the count without them beside the total (Inception-v3:
27,143,152 with its head, 23,817,352 without, the published 23.8M).
"""
import dataclasses
import importlib
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax._src.interpreters import partial_eval as pe  # dce_jaxpr: no public equivalent

from zoo.data import pipeline
from zoo.models import conv as conv_lib, video2vec
from zoo.models import layers
from zoo.tasks import classification

_LAYERS = (conv_lib.Conv, nn.Dense, layers.MaxPool, layers.AvgPool, nn.BatchNorm, nn.Dropout,
           video2vec.StreamRNN)
_GATES = {"lstm": 4, "gru": 3, "simple": 1}  # weight matrices per recurrent cell
COLUMNS = ("layer", "type", "kernel", "stride", "padding", "output", "params", "FLOPs")


@dataclasses.dataclass(frozen=True)
class Row:
  path: str           # e.g. 'inception_3a/branch3x3/Conv_0'
  type: str           # class name; Dropout shows its rate
  kernel: str         # 'KHxKW' for convolutions and pools, else ''
  stride: str
  padding: str        # added (lo,hi) rows, columns at this input; 'ceil': rounding up
  output: tuple       # per example (no batch dimension)
  params: int
  flops: int          # per example, 2 x multiply-adds (as papers count them)
  flops_unpadded: int  # the same without the taps that fall on zero padding (as XLA counts)


def _two(v) -> tuple[int, int]:
  """A module's size field (None, an int or a pair) as a pair; None means 1, as in flax."""
  v = 1 if v is None else v
  return (int(v), int(v)) if isinstance(v, int) else tuple(int(a) for a in v)


def _hw(v) -> str:
  return "x".join(map(str, _two(v)))


def _pads(pads) -> str:
  """((lo, hi), (lo, hi)) -> '1' when all four agree, else '(0,1),(0,1)'."""
  flat = {p for pair in pads for p in pair}
  if len(flat) == 1:
    return str(flat.pop())
  return ",".join(f"({lo},{hi})" for lo, hi in pads)


def _taps_on_input(size, out, kernel, stride, dilation, lo) -> int:
  """(output position, kernel tap) pairs along one axis that read a real input cell."""
  return sum(0 <= o * stride + k * dilation - lo < size for o in range(out) for k in range(kernel))


def _pool_padding(module, x, y) -> str:
  window, strides = _two(module.window), _two(module.strides)
  if module.padding == "CEIL":  # what rounding up added at the far edges
    return "ceil " + _pads([(0, max(0, (o - 1) * s + w - n)) for n, o, w, s
                            in zip(x.shape[1:3], y.shape[1:3], window, strides)])
  return _pads(conv_lib.resolve_padding(module.padding, x.shape[1:3], window, strides, (1, 1)))


def _row(module, x, y) -> Row:
  """One layer call: `x` its input, `y` its output (batch of one)."""
  params = sum(v.size for v in jax.tree.leaves(module.variables.get("params", {})))
  output = tuple(y.shape[1:])
  kernel = stride = padding = ""
  flops = flops_unpadded = 0
  kind = type(module).__name__
  if isinstance(module, conv_lib.Conv):
    kernel_hw, strides = _two(module.kernel_size), _two(module.strides)
    dilation = _two(module.kernel_dilation)
    pads = conv_lib.resolve_padding(module.padding, x.shape[1:3], kernel_hw, strides, dilation)
    kernel, stride, padding = _hw(kernel_hw), _hw(strides), _pads(pads)
    flops = 2 * math.prod(output) * math.prod(kernel_hw) * x.shape[-1]
    taps = math.prod(_taps_on_input(*args) for args in zip(
        x.shape[1:3], y.shape[1:3], kernel_hw, strides, dilation, (lo for lo, _ in pads)))
    flops_unpadded = 2 * taps * x.shape[-1] * y.shape[-1]
  elif isinstance(module, nn.Dense):
    flops = flops_unpadded = 2 * math.prod(output) * x.shape[-1]
  elif isinstance(module, (layers.MaxPool, layers.AvgPool)):
    kernel, stride, padding = _hw(module.window), _hw(module.strides), _pool_padding(module, x, y)
  elif isinstance(module, nn.Dropout):
    kind = f"Dropout {module.rate:g}"
  elif isinstance(module, video2vec.StreamRNN):  # FLOPs over all x.shape[1] time steps
    kind = f"{module.cell.upper()} x{x.shape[1]} steps"
    flops = flops_unpadded = (2 * _GATES[module.cell] * (x.shape[-1] + module.hidden)
                              * module.hidden * x.shape[1])
  return Row("/".join(module.path), kind, kernel, stride, padding, output, params, flops,
             flops_unpadded)


def unused_in_evaluation(model, variables, inputs) -> list:
  """Paths ('aux/fc/kernel', ...) of the parameters the evaluation forward pass does not use."""
  flat, treedef = jax.tree_util.tree_flatten_with_path(variables)

  def forward(*args):
    leaves = args[len(inputs):]
    return model.apply(jax.tree_util.tree_unflatten(treedef, leaves), *args[:len(inputs)],
                       train=False)

  closed = jax.make_jaxpr(forward)(*inputs, *(leaf for _, leaf in flat))
  _, used = pe.dce_jaxpr(closed.jaxpr, [True] * len(closed.jaxpr.outvars))
  used = used[len(inputs):]  # the inputs
  paths = ["/".join(str(getattr(k, "key", k)) for k in path) for path, _ in flat]
  return [p.removeprefix("params/") for p, u in zip(paths, used)
          if not u and p.startswith("params/")]


def model_and_inputs(config):
  """(model, example inputs as ShapeDtypeStructs) as the config's task builds them: the
  task module's `describe_inputs(config)` where it has one, else a classifier of the data
  module's NUM_CLASSES on one `data.image_size`^2 RGB image."""
  task = importlib.import_module(f"zoo.tasks.{config.task}")
  if hasattr(task, "describe_inputs"):
    return task.describe_inputs(config)
  num_classes = pipeline.data_module(config.data).NUM_CLASSES
  model = classification.build_model(config.model, num_classes)
  size, channels = config.data.image_size, config.data.get("channels", 3)
  return model, (jax.ShapeDtypeStruct((1, size, size, channels),
                                      jnp.dtype(config.model.dtype)),)


def describe(config):
  """(rows, totals) of `config`'s network on one example (see `model_and_inputs`).

  totals: 'params' (every parameter of the model), 'params_inference' (without those
  only training uses: auxiliary heads), 'training_only' (those heads' top-level names),
  'state' (other variables, e.g. batch statistics), 'flops' and 'flops_unpadded' (per
  example, the rows' sums), 'image_size', 'num_classes'.
  """
  model, inputs = model_and_inputs(config)
  num_classes = model.num_classes
  size = config.data.get("image_size")
  rows = []

  def record(next_fun, args, kwargs, context):
    y = next_fun(*args, **kwargs)
    if context.method_name == "__call__" and isinstance(context.module, _LAYERS):
      rows.append(_row(context.module, args[0], y))
    return y

  with nn.intercept_methods(record):
    variables = jax.eval_shape(
        lambda *xs: model.init(jax.random.key(0), *xs, train=False), *inputs)
  count = lambda tree: sum(v.size for v in jax.tree.leaves(tree))
  unused = unused_in_evaluation(model, variables, inputs)
  sizes = {"/".join(str(getattr(k, "key", k)) for k in path): leaf.size for path, leaf
           in jax.tree_util.tree_flatten_with_path(variables.get("params", {}))[0]}
  totals = {"params": count(variables.get("params", {})),
            "params_inference": count(variables.get("params", {})) - sum(sizes[p] for p in unused),
            "training_only": sorted({p.split("/")[0] for p in unused}),
            "state": count({k: v for k, v in variables.items() if k != "params"}),
            "flops": sum(r.flops for r in rows),
            "flops_unpadded": sum(r.flops_unpadded for r in rows),
            "image_size": size, "num_classes": num_classes,
            "inputs": [tuple(x.shape[1:]) for x in inputs]}
  return rows, totals


def format_table(rows, totals) -> str:
  """A fixed-width Markdown table of the rows, then the totals."""
  cells = [COLUMNS] + [(r.path, r.type, r.kernel, r.stride, r.padding,
                        "x".join(map(str, r.output)), f"{r.params:,}", f"{r.flops:,}")
                       for r in rows]
  widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
  right = {6, 7}  # numbers

  def line(cell):
    return "| " + " | ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cell, widths))) + " |"

  rule = "|" + "|".join("-" * (w + 1) + (":" if i in right else "-")
                        for i, w in enumerate(widths)) + "|"
  lines = [line(cells[0]), rule] + [line(c) for c in cells[1:]]
  shapes = ", ".join("x".join(map(str, shape)) or "scalar" for shape in totals["inputs"])
  lines += ["", f"input {shapes}, {totals['num_classes']} classes",
            f"parameters: {totals['params']:,}"
            + (f" ({totals['params_inference']:,} without the training-only "
               f"head{'s' if len(totals['training_only']) > 1 else ''}: "
               f"{', '.join(totals['training_only'])})" if totals["training_only"] else "")
            + (f" (+ {totals['state']:,} non-trained state)" if totals["state"] else ""),
            f"FLOPs per example, forward: {totals['flops']:,} ({totals['flops'] / 1e9:.2f} G; "
            "2 x multiply-adds of convolutions and dense layers)",
            f"  without the taps on zero padding, as XLA counts: {totals['flops_unpadded']:,}"]
  return "\n".join(lines)
