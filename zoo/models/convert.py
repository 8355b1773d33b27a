"""Converts released ImageNet weights into a checkpoint `--config.init_from` loads.

  python -m zoo.models.convert --from=keras --model=inception_v3|resnet50|vgg16|vgg19 --h5=FILE --out=DIR
  python -m zoo.models.convert --from=matconvnet --mat=imagenet-vgg-f.mat --out=DIR

MatConvNet: `zoo.models.matconvnet` reads the SimpleNN file (both layouts) onto
`zoo.models.vgg_f`; `DIR/convert.json` also lists the classes (`meta.classes`: WordNet ids
and descriptions), `DIR/average_image.npy` holds a mean image, and `DIR/config.json` the
model and input settings, so `--config.data.spatial_cnn=DIR` (Video2Vec) reads it as it
reads a run. The LRN parameters, the pooling pads and the input normalisation of the file
are printed as overrides.

Reads the weight files Keras Applications downloads (`inception_v3_weights_tf_dim_ordering_
tf_kernels.h5`, `resnet50_weights_tf_dim_ordering_tf_kernels.h5`, their `_notop` variants)
in Keras' legacy HDF5 layout: root attribute `layer_names`, one group per layer with a
`weight_names` attribute (under `model_weights/` in whole-model files). Keras 3's
`.weights.h5` files are refused with a message saying why: they name each layer by its
class and position in the model's topological order (`layers/conv2d_7/vars/0`) instead of
its own name, which leaves nothing to match layers by. Writes `DIR/state`, an
Orbax checkpoint of `{"params", "model_state": {"batch_stats"}}` named as the
classification task's `TrainState` names them, and `DIR/convert.json`, which says what
was converted and the `--config.*` settings to train or evaluate with it.

Keras stores a layer's arrays in creation order (kernel, bias; gamma, beta, moving mean,
moving variance), convolution kernels HWIO and dense kernels (in, out), as flax does, so
arrays are copied unchanged (as float32). Layers are matched:
- Inception-v3: Keras names them by a creation counter (conv2d, conv2d_1, ...;
  batch_normalization, ...). Ordered by that counter they follow the building order of
  `keras.applications.inception_v3`, which `zoo.models.inception_v3` mirrors; the i-th
  convolution goes with the i-th batch norm. Keras has no auxiliary head: a run with
  `aux_logits` starts it from its initialisation.
- ResNet50: by name (conv1_conv, convS_blockB_I_conv/_bn with I = 0 the projection
  shortcut, predictions), onto `zoo.models.resnet` in its v1 form (stride in the first
  1x1, conv biases, BN epsilon 1.001e-5), which the printed overrides select.
- VGG16/VGG19: by name (block1_conv1 ... fc1, fc2, predictions) onto `zoo.models.vgg`,
  which names its layers as Keras does; the `_notop` files (the convolutions alone) are
  the perceptual network of `face_attributes --config.manipulation.perceptual=vgg16:DIR`.
A file without a classifier converts the rest; `init_from` then leaves the head at init.
Any layer that does not fit stops the conversion with a message naming the file and the
first such layer; nothing is written then.
"""
import argparse
import dataclasses
import importlib
import json
import os
import re
import shlex
import sys
from typing import Any, Callable

import flax.linen as nn
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp


AVERAGE_IMAGE = "average_image.npy"  # a MatConvNet mean image, in the converted dir


class ConversionError(Exception):
  """A file that cannot be converted; the message names the file and the reason."""


@dataclasses.dataclass(frozen=True)
class Target:
  """One of our layers: `kind` is 'conv', 'bn' or 'dense'; `path` its module path."""
  kind: str
  path: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """How one Keras Applications network maps onto one of ours."""
  module: str              # zoo.models.<module>
  fields: dict[str, Any]   # model fields the Keras layout needs (printed as overrides)
  image_size: int          # Keras' default input size
  normalization: str       # --config.input_normalization for Keras' preprocessing
  match: Callable          # (keras layers, model, file) -> (abstract variables,
                           #                                 [(name, arrays, Target)])
  keras_name: str


def _kind(arrays) -> str:
  """'conv', 'dense' or 'bn' from the shapes of a Keras layer's arrays."""
  if arrays[0].ndim == 4:
    return "conv"
  if arrays[0].ndim == 2:
    return "dense"
  return "bn" if all(a.ndim == 1 for a in arrays) else "unknown"


def _counter(name: str) -> int:
  """Keras' creation counter in a layer name: conv2d -> 0, conv2d_12 -> 12."""
  match = re.search(r"_(\d+)$", name)
  return int(match.group(1)) if match else 0


def _call_order(model, x, module_type) -> tuple[dict, list[tuple[str, ...]]]:
  """The abstract variables of `model` and the paths of its `module_type` submodules in
  the order they are called (flax's variable dicts lose it: pytrees sort their keys)."""
  paths = []

  def record(next_fun, args, kwargs, context):
    if isinstance(context.module, module_type) and context.method_name == "__call__":
      paths.append(context.module.path)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(record):
    template = jax.eval_shape(model.init, jax.random.key(0), x)
  return template, paths


def _match_inception(layers, model, file):
  from zoo.models.inception_v3 import ConvBN
  model = model.clone(aux_logits=False)  # Keras has none; its convs would join the order
  template, order = _call_order(model, jnp.zeros((1, 299, 299, 3)), ConvBN)
  by_kind = {"conv": [], "bn": [], "dense": []}
  for name, arrays in layers:
    kind = _kind(arrays)
    if kind not in by_kind:
      raise ConversionError(f"{file}: layer '{name}' holds arrays of shapes "
                            f"{[a.shape for a in arrays]}, not a convolution, batch norm or "
                            f"dense layer of Keras' InceptionV3")
    by_kind[kind].append((name, arrays))
  convs, norms = (sorted(by_kind[k], key=lambda layer: _counter(layer[0]))
                  for k in ("conv", "bn"))
  theirs = [layer for pair in zip(convs, norms) for layer in pair]
  theirs += convs[len(norms):] + norms[len(convs):] + by_kind["dense"]
  ours = [Target(kind, path + (kind,)) for path in order for kind in ("conv", "bn")]
  if by_kind["dense"]:
    ours.append(Target("dense", ("predictions",)))
  return template, _pair_in_order(theirs, ours, template, file, "InceptionV3")


def _pair_in_order(theirs, ours, template, file, keras_name):
  """Pairs Keras layers with ours position by position; names the first that does not fit."""
  for (name, arrays), target in zip(theirs, ours):
    if _kind(arrays) != target.kind:
      raise ConversionError(f"{file}: layer '{name}' is a {_kind(arrays)} layer where Keras' "
                            f"{keras_name} has a {target.kind} layer (ours: "
                            f"{'/'.join(target.path)})")
    _check_shapes(name, arrays, target, template, file, keras_name)
  if len(theirs) > len(ours):
    raise ConversionError(f"{file}: layer '{theirs[len(ours)][0]}' is one more than Keras' "
                          f"{keras_name} has ({len(ours)} layers with weights)")
  if len(theirs) < len(ours):
    raise ConversionError(f"{file}: holds {len(theirs)} layers with weights, Keras' "
                          f"{keras_name} has {len(ours)}; none for "
                          f"{'/'.join(ours[len(theirs)].path)}")
  return [(name, arrays, target) for (name, arrays), target in zip(theirs, ours)]


def _resnet_targets(stage_sizes):
  """Keras' ResNet50 layer names with our layers, in Keras' order."""
  yield "conv1_conv", Target("conv", ("stem",))
  yield "conv1_bn", Target("bn", ("stem_bn",))
  block = 0
  for stage, blocks in enumerate(stage_sizes):
    for b in range(blocks):
      prefix, ours = f"conv{stage + 2}_block{b + 1}", f"Bottleneck_{block}"
      if b == 0:
        yield f"{prefix}_0_conv", Target("conv", (ours, "projection"))
        yield f"{prefix}_0_bn", Target("bn", (ours, "BatchNorm_3"))
      for i in range(3):
        yield f"{prefix}_{i + 1}_conv", Target("conv", (ours, f"Conv_{i}"))
        yield f"{prefix}_{i + 1}_bn", Target("bn", (ours, f"BatchNorm_{i}"))
      block += 1
  yield "predictions", Target("dense", ("head",))


def _match_by_name(layers, model, file, targets, keras_name, example, top):
  """Pairs Keras layers with ours by Keras' layer names (`targets`: name -> Target, in
  Keras' order); the `top` layers are optional together (a _notop file)."""
  template = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 224, 224, 3)))
  expected = dict(targets)
  found = dict(layers)
  for name in found:
    if name not in expected:
      raise ConversionError(f"{file}: layer '{name}' is not a layer of Keras' {keras_name} "
                            f"(expected names such as {example})")
  if not any(name in found for name in top):  # a _notop file
    for name in top:
      del expected[name]
  for name in expected:
    if name not in found:
      raise ConversionError(f"{file}: has no layer '{name}' of Keras' {keras_name}")
  return template, [(name, found[name], target) for name, target in expected.items()]


def _match_resnet(layers, model, file):
  return _match_by_name(layers, model, file, _resnet_targets(model.stage_sizes), "ResNet50",
                        example="conv2_block1_1_conv", top=("predictions",))


def _vgg_targets(depth):
  """Keras' VGG16/VGG19 layer names with our layers (the same names), in Keras' order."""
  from zoo.models import vgg  # pylint: disable=import-outside-toplevel
  for b, convs in enumerate(vgg.CONVS[depth]):
    for i in range(convs):
      name = f"block{b + 1}_conv{i + 1}"
      yield name, Target("conv", (name,))
  for name in ("fc1", "fc2", "predictions"):
    yield name, Target("dense", (name,))


def _match_vgg(layers, model, file):
  return _match_by_name(layers, model, file, _vgg_targets(model.depth), f"VGG{model.depth}",
                        example="block1_conv1", top=("fc1", "fc2", "predictions"))


MODELS = {
    "inception_v3": ModelSpec(module="inception_v3", fields={},
                              image_size=299, normalization="inception",
                              match=_match_inception, keras_name="InceptionV3"),
    "resnet50": ModelSpec(module="resnet",
                          fields={"stride_in_1x1": True, "conv_bias": True,
                                  "bn_epsilon": 1.001e-5},
                          image_size=224, normalization="caffe",
                          match=_match_resnet, keras_name="ResNet50"),
    # the perceptual network of face_attributes (--config.manipulation.perceptual=vgg16:DIR)
    "vgg16": ModelSpec(module="vgg", fields={"depth": 16}, image_size=224,
                       normalization="caffe", match=_match_vgg, keras_name="VGG16"),
    "vgg19": ModelSpec(module="vgg", fields={"depth": 19}, image_size=224,
                       normalization="caffe", match=_match_vgg, keras_name="VGG19"),
}


def _attribute(group, name):
  """A string-list attribute, also when Keras split it into NAME0, NAME1, ... chunks."""
  if name in group.attrs:
    values = list(group.attrs[name])
  else:
    values, chunk = [], 0
    while f"{name}{chunk}" in group.attrs:
      values += list(group.attrs[f"{name}{chunk}"])
      chunk += 1
  return [v.decode() if isinstance(v, bytes) else str(v) for v in values]


def read_keras_weights(file: str) -> list[tuple[str, list[np.ndarray]]]:
  """[(layer name, its arrays)] for every layer with weights in a Keras legacy HDF5 file,
  in the file's order."""
  if not os.path.isfile(file):
    raise ConversionError(f"{file}: no such file")
  try:
    handle = h5py.File(file, "r")
  except OSError as e:
    raise ConversionError(f"{file}: not an HDF5 file ({e})") from None
  with handle as f:
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" in root.attrs or "layer_names0" in root.attrs:
      layers = []
      for name in _attribute(root, "layer_names"):
        if name not in root:
          raise ConversionError(f"{file}: layer '{name}' is listed but has no group")
        group = root[name]
        arrays = [np.asarray(group[w]) for w in _attribute(group, "weight_names")]
        if arrays:
          layers.append((name, arrays))
      return layers
    if isinstance(root.get("layers"), h5py.Group):
      raise ConversionError(
          f"{file}: a Keras 3 .weights.h5 file, not supported: it names layers by class and "
          f"position, not by their own names, so they cannot be matched. Use the .h5 file "
          f"Keras Applications downloads, or write one in the legacy layout with keras.src."
          f"legacy.saving.legacy_h5_format.save_weights_to_hdf5_group")
  raise ConversionError(f"{file}: not a Keras weights file (no 'layer_names' attribute)")


def _slots(target: Target, template) -> list[tuple[str, str]]:
  """(collection, leaf name) of our arrays for `target`, in Keras' order."""
  params = template["params"]
  for part in target.path:
    params = params[part]
  if target.kind == "bn":
    return ([("params", leaf) for leaf in ("scale", "bias") if leaf in params]
            + [("batch_stats", "mean"), ("batch_stats", "var")])
  return [("params", leaf) for leaf in ("kernel", "bias") if leaf in params]


def _leaf(tree, path):
  for part in path:
    tree = tree[part]
  return tree


def _check_shapes(name, arrays, target, template, file, keras_name):
  expected = [_leaf(template[c], target.path + (leaf,)).shape
              for c, leaf in _slots(target, template)]
  found = [a.shape for a in arrays]
  if found != expected:
    raise ConversionError(f"{file}: layer '{name}' has arrays of shapes {found}; Keras' "
                          f"{keras_name} layout (ours: {'/'.join(target.path)}) needs "
                          f"{expected}")


def _assign(pairs, template, file, keras_name):
  """The converted `{params, batch_stats}` tree; every array checked against our shapes."""
  out = {"params": {}, "batch_stats": {}}
  for name, arrays, target in pairs:
    _check_shapes(name, arrays, target, template, file, keras_name)
    for (collection, leaf), array in zip(_slots(target, template), arrays):
      node = out[collection]
      for part in target.path:
        node = node.setdefault(part, {})
      node[leaf] = np.asarray(array, np.float32)
  return out


def _check_out(out: str):
  if os.path.exists(out) and not (os.path.isdir(out) and not os.listdir(out)):
    raise ConversionError(f"--out={out} exists and is not empty; not overwriting it")


def _save_state(out: str, state: dict):
  """`out/state`: an Orbax checkpoint of the classification task's state names."""
  os.makedirs(out, exist_ok=True)
  checkpointer = ocp.StandardCheckpointer()
  checkpointer.save(os.path.abspath(os.path.join(out, "state")), state)
  checkpointer.wait_until_finished()
  checkpointer.close()


def _settings(spec: ModelSpec, out: str) -> list[str]:
  """The --config.* overrides that train or evaluate with the converted weights."""
  if spec.module == "vgg":  # no VGG experiment: the facial-attribute perceptual loss
    return [f"--config.manipulation.perceptual={spec.keras_name.lower()}:"
            f"{os.path.abspath(out)}"]
  fields = [f"--config.model.{k}={str(v).lower() if isinstance(v, bool) else v}"
            for k, v in spec.fields.items()]
  return ([f"--config.model.name={spec.module}"] + fields
          + [f"--config.input_normalization={spec.normalization}",
             f"--config.data.image_size={spec.image_size}",
             f"--config.init_from={os.path.abspath(out)}"])


def convert_keras(name: str, file: str, out: str) -> dict:
  """Converts Keras Applications weights for model `name` in `file` into directory `out`
  (which must be new or empty); returns what it wrote to `out/convert.json`."""
  if name not in MODELS:
    raise ConversionError(f"unknown model '{name}'; one of: {', '.join(MODELS)}")
  _check_out(out)
  spec = MODELS[name]
  layers = read_keras_weights(file)
  dense = [arrays for _, arrays in layers if _kind(arrays) == "dense"]
  num_classes = dense[-1][0].shape[1] if dense else 1000
  module = importlib.import_module(f"zoo.models.{spec.module}")
  model = module.Model(num_classes=num_classes, conv_matmul_grads=False, **spec.fields)
  template, pairs = spec.match(layers, model, file)
  variables = _assign(pairs, template, file, spec.keras_name)

  _save_state(out, {"params": variables["params"],
                    "model_state": {"batch_stats": variables["batch_stats"]}})
  info = {
      "source": os.path.abspath(file), "model": name,
      "keras_model": f"keras.applications.{spec.keras_name}",
      "num_classes": num_classes if dense else None, "layers": len(pairs),
      "arrays": len(jax.tree.leaves(variables)),
      "input_normalization": spec.normalization, "image_size": spec.image_size,
      "settings": _settings(spec, out),
  }
  with open(os.path.join(out, "convert.json"), "w") as f:
    json.dump(info, f, indent=2)
  return info


def matconvnet_settings(net, out: str) -> dict:
  """The model fields, input normalisation and image size of a converted VGG-F."""
  if net.average.ndim == 3:
    normalization = f"mean:{os.path.abspath(os.path.join(out, AVERAGE_IMAGE))}"
  else:
    normalization = "mean:" + ",".join(repr(float(v)) for v in net.average)
  return {"model": {"name": "vgg_f", "fc_features": net.fc_features, "lrn": True,
                    "lrn_params": list(net.lrn_params),
                    "pool_pads": [list(p) for p in net.pool_pads]},
          "input_normalization": normalization, "image_size": net.image_size}


def convert_matconvnet(file: str, out: str) -> dict:
  """Converts MatConvNet's SimpleNN VGG-F in `file` into directory `out` (new or empty);
  returns what it wrote to `out/convert.json`."""
  from zoo.models import matconvnet  # pylint: disable=import-outside-toplevel
  _check_out(out)
  try:
    net = matconvnet.read_vgg_f(file)
  except matconvnet.FormatError as e:
    raise ConversionError(str(e)) from None
  found = matconvnet_settings(net, out)
  model = found["model"]
  lrn = ",".join(repr(v) for v in model["lrn_params"])
  pads = "(" + ",".join("(" + ",".join(map(str, p)) + ")" for p in model["pool_pads"]) + ")"
  settings = [f"--config.model.fc_features={net.fc_features}",
              f"--config.model.lrn_params={lrn}", f"--config.model.pool_pads={pads}",
              f"--config.input_normalization={found['input_normalization']}",
              f"--config.data.image_size={net.image_size}"]
  _save_state(out, {"params": net.params})
  if net.average.ndim == 3:
    np.save(os.path.join(out, AVERAGE_IMAGE), net.average)
  # What launch/features.py and zoo/data/video_features.py read of a run's config.json.
  run_config = {"converted_from": os.path.abspath(file), "task": "classification",
                "model": {**model, "dropout_rate": 0.5, "dtype": "float32",
                          "param_dtype": "float32", "conv_matmul_grads": "auto"},
                "input_normalization": found["input_normalization"],
                "data": {"image_size": net.image_size}}
  with open(os.path.join(out, "config.json"), "w") as f:
    json.dump(run_config, f, indent=2)
  info = {
      "source": os.path.abspath(file), "model": "vgg_f", "matconvnet_layout": net.layout,
      "num_classes": net.num_classes, "layers": net.layers,
      "arrays": len(jax.tree.leaves(net.params)), "image_size": net.image_size,
      "input_normalization": found["input_normalization"],
      "settings": settings + [f"--config.init_from={os.path.abspath(out)}"],
      "video2vec_settings": [f"--config.data.spatial_cnn={os.path.abspath(out)}",
                             f"--config.data.image_size={net.image_size}"],
      "class_ids": net.class_ids, "class_names": net.class_names,
  }
  with open(os.path.join(out, "convert.json"), "w") as f:
    json.dump(info, f, indent=2)
  return info


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--from", dest="source", choices=["keras", "matconvnet"], required=True,
                      help="the framework that wrote the weights")
  parser.add_argument("--model", choices=sorted(MODELS), help="the Keras network")
  parser.add_argument("--h5", help="the Keras weights file")
  parser.add_argument("--mat", help="the MatConvNet SimpleNN file (imagenet-vgg-f.mat)")
  parser.add_argument("--out", required=True, help="a new (or empty) directory")
  args = parser.parse_args(argv)
  needs = {"keras": ("model", "h5"), "matconvnet": ("mat",)}[args.source]
  missing = [f"--{n}" for n in needs if not getattr(args, n)]
  if missing:
    parser.error(f"--from={args.source} needs {' and '.join(missing)}")
  try:
    if args.source == "keras":
      info = convert_keras(args.model, args.h5, args.out)
      what, source = info["keras_model"], args.h5
    else:
      info = convert_matconvnet(args.mat, args.out)
      what, source = f"MatConvNet's VGG-F ({info['matconvnet_layout']} layout)", args.mat
  except ConversionError as e:
    print(f"error: {e}", file=sys.stderr)
    sys.exit(2)
  head = f"{info['num_classes']} classes" if info["num_classes"] else "no classifier"
  print(f"converted {info['layers']} layers ({info['arrays']} arrays, {head}) of "
        f"{what} from {source} into {args.out}\n"
        f"Use them with:\n  " + " \\\n  ".join(map(shlex.quote, info["settings"])))
  if "video2vec_settings" in info:
    print("As Video2Vec's spatial CNN (no ImageNet run):\n  "
          + " \\\n  ".join(map(shlex.quote, info["video2vec_settings"])))


if __name__ == "__main__":
  main()
