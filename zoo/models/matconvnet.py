"""MatConvNet's SimpleNN networks (`imagenet-vgg-f.mat`) read onto `zoo.models.vgg_f`.

Both layouts MatConvNet has written (`matlab/simplenn/vl_simplenn_tidy.m` upgrades the
older one): `layers`, a cell array of structs with a `type` and a `name`,
- current: a conv layer keeps `weights = {filters H x W x Cin x Cout, biases}`, the file
  `meta.normalization` and `meta.classes`, LRN is type `lrn`;
- older: `filters` / `biases` fields, top-level `normalization` and `classes`, LRN is type
  `normalize`, `stride` / `pad` scalars where every side agrees, `dropout` layers kept.
A missing `pad` or `stride` is 0 or 1, a missing LRN `param` [5 1 0.0001/5 0.75]
(`vl_simplenn_tidy`'s defaults). Read with scipy (MATLAB v5/v7 files; a v7.3 file is HDF5,
which scipy does not read: re-save it with `save(FILE, '-struct', 'net', '-v7')`).

Semantics (`vl_nnconv`, `vl_nnpool`, `vl_nnnormalize`): convolutions are correlations of
HWIO filters as flax's, `pad` is [top bottom left right], outputs floor((H + pads - K) / S)
+ 1, max-pooling over the window's cells inside the map; LRN y = x / (kappa + alpha *
sum x^2)^beta over N channels with `param = [N kappa alpha beta]`; fc6 is a convolution
whose kernel covers the whole map, so its filters H x W x C x F flattened in C order are
the rows of our fc6 in the order our flatten of the [H, W, C] map reads them. The input
is RGB 0-255 minus `normalization.averageImage` (a mean image or a per-channel mean).
"""
import dataclasses
import os

import numpy as np


class FormatError(Exception):
  """Not a VGG-F in a SimpleNN file; the message names the file and the first layer."""


# Our VGG-F's layers in order: (type, name, kernel, stride, pad, Cin, Cout). Cin/Cout
# None: the fc width or class count, read from the file; fc6's kernel is the map's size.
VGG_F = (
    ("conv", "conv1", 11, 4, 0, 3, 64), ("relu",), ("lrn",), ("pool", 0),
    ("conv", "conv2", 5, 1, 2, 64, 256), ("relu",), ("lrn",), ("pool", 1),
    ("conv", "conv3", 3, 1, 1, 256, 256), ("relu",),
    ("conv", "conv4", 3, 1, 1, 256, 256), ("relu",),
    ("conv", "conv5", 3, 1, 1, 256, 256), ("relu",), ("pool", 2),
    ("conv", "fc6", None, 1, 0, 256, None), ("relu",),
    ("conv", "fc7", 1, 1, 0, None, None), ("relu",),
    ("conv", "fc8", 1, 1, 0, None, None),
)
HEADLESS = len(VGG_F) - 1  # a file may stop after relu7 (no classifier)
LRN_TYPES = ("lrn", "normalize")
DEFAULT_LRN = (5.0, 1.0, 0.0001 / 5, 0.75)


@dataclasses.dataclass
class Network:
  """What the converter needs of a SimpleNN VGG-F."""
  layout: str                    # 'current' or 'older'
  params: dict                   # our {'conv1': {'kernel', 'bias'}, ..., 'fc8'}
  lrn_params: tuple              # (N, kappa, alpha, beta)
  pool_pads: tuple               # ((top, bottom, left, right),) x 3
  image_size: int
  average: np.ndarray            # [3] or [H, W, 3], RGB 0-255
  fc_features: int
  num_classes: int | None        # None: no fc8
  class_ids: list                # meta.classes.name (WordNet ids), may be empty
  class_names: list              # meta.classes.description
  layers: int                    # layers with weights


def _one(x):
  """The element of MATLAB's 1x1 wrappers (cells and struct arrays of one)."""
  while isinstance(x, np.ndarray) and x.dtype == object and x.size == 1:
    x = x.flat[0]
  return x


def _items(x) -> list:
  """The elements of a cell or struct array, in MATLAB's order."""
  if isinstance(x, np.ndarray) and x.dtype == object:
    return [_one(v) for v in x.ravel(order="F")]
  return [x]


def _text(x) -> str:
  x = _one(x)
  if isinstance(x, str):
    return x
  if isinstance(x, np.ndarray) and x.dtype.kind == "U":
    return "".join(x.ravel(order="F")) if x.ndim and x.size > 1 else (str(x.item()) if x.size else "")
  return ""


def _numbers(x) -> np.ndarray:
  x = _one(x)
  try:
    return np.asarray(x, np.float64).ravel(order="F")
  except (TypeError, ValueError):
    return np.zeros((0,))


def _field(struct, name, default=None):
  return getattr(struct, name) if name in getattr(struct, "_fieldnames", ()) else default


def _pads(values, what: str) -> tuple:
  """[top bottom left right] from a scalar or the 4-vector."""
  values = [int(v) for v in values]
  if len(values) == 1:
    return tuple(values * 4)
  if len(values) == 4:
    return tuple(values)
  raise ValueError(f"{what} pad {values}: expected a scalar or [top bottom left right]")


def _pair(values, what: str) -> tuple:
  values = [int(v) for v in values]
  if len(values) in (1, 2):
    return tuple(values * (3 - len(values)))
  raise ValueError(f"{what} {values}: expected a scalar or [Y X]")


def load(file: str):
  """The network struct of a SimpleNN .mat (its variables, or a `net` variable holding it)."""
  import scipy.io  # pylint: disable=import-outside-toplevel
  if not os.path.isfile(file):
    raise FormatError(f"{file}: no such file")
  try:
    contents = scipy.io.loadmat(file, struct_as_record=False, squeeze_me=False)
  except NotImplementedError:  # scipy's answer to v7.3
    raise FormatError(f"{file}: a MATLAB v7.3 (HDF5) file, which scipy cannot read; re-save "
                      "it in MATLAB with save(FILE, '-struct', 'net', '-v7')") from None
  except Exception as e:  # pylint: disable=broad-except  # scipy's MatReadError and others
    raise FormatError(f"{file}: not a MATLAB .mat file ({e})") from None
  if "layers" not in contents and "net" in contents:
    net = _one(contents["net"])
    contents = {k: _field(net, k) for k in getattr(net, "_fieldnames", ())}
  if contents.get("layers") is None:
    raise FormatError(f"{file}: no 'layers' (variables: "
                      f"{', '.join(k for k in contents if not k.startswith('__')) or 'none'}); "
                      "not a MatConvNet SimpleNN network")
  return contents


def _weights(layer):
  """(filters, biases, layout) of a conv layer in either layout."""
  weights = _field(layer, "weights")
  if weights is not None and np.size(weights):
    items = _items(weights)
    if len(items) != 2:
      raise ValueError(f"weights holds {len(items)} arrays, expected {{filters, biases}}")
    return items[0], items[1], "current"
  if _field(layer, "filters") is not None:
    return _field(layer, "filters"), _field(layer, "biases"), "older"
  raise ValueError("no weights (neither weights = {filters, biases} nor filters/biases)")


def read_vgg_f(file: str) -> Network:
  """Reads `file` and checks it layer by layer against VGG-F (see the module docstring)."""
  contents = load(file)
  layers = _items(contents["layers"])
  meta = _one(contents.get("meta")) if contents.get("meta") is not None else None
  normalization = _one(_field(meta, "normalization")) if meta is not None else None
  classes = _one(_field(meta, "classes")) if meta is not None else None
  if normalization is None and contents.get("normalization") is not None:
    normalization = _one(contents["normalization"])
  if classes is None and contents.get("classes") is not None:
    classes = _one(contents["classes"])

  average = _one(_field(normalization, "averageImage")) if normalization is not None else None
  average = (np.zeros((3,), np.float32) if average is None or not np.size(average)
             else np.asarray(average, np.float32))
  size_field = _numbers(_field(normalization, "imageSize")) if normalization is not None else []
  if len(size_field) >= 2:
    image_size = int(size_field[0])
  elif average.ndim == 3 and average.shape[0] > 1:
    image_size = average.shape[0]
  else:
    image_size = 224
  if average.size == 3:
    average = average.reshape(3)
  elif average.ndim != 3 or average.shape != (image_size, image_size, 3):
    raise FormatError(f"{file}: normalization.averageImage is {average.shape}, neither a "
                      f"per-channel mean nor a {image_size}x{image_size}x3 mean image")

  params, lrn, pool_pads, layouts = {}, None, [None] * 3, set()
  size, channels, expected = image_size, 3, 0
  fc_features = num_classes = None
  position = 0
  for position, layer in enumerate(layers, 1):
    name = _text(_field(layer, "name")) or f"layer{position}"
    kind = _text(_field(layer, "type"))
    where = f"{file}: layer {position} '{name}'"
    if kind == "dropout":  # the identity at inference
      continue
    if expected >= len(VGG_F):
      if kind in ("softmax", "softmaxloss") and position == len(layers):
        break
      raise FormatError(f"{where} ({kind}) is one more than VGG-F has")
    slot = VGG_F[expected]
    if expected == HEADLESS and kind in ("softmax", "softmaxloss"):
      raise FormatError(f"{where} ({kind}) follows relu7: VGG-F has fc8 there")
    want = slot[0]
    if want == "lrn" and kind in LRN_TYPES:
      pass
    elif kind != want:
      ours = slot[1] if want == "conv" else want
      raise FormatError(f"{where} is a {kind or 'untyped'} layer where VGG-F has a {want} "
                        f"layer (ours: {ours})")
    try:
      if want == "conv":
        _, ours, kernel, stride, pad, cin, cout = slot
        filters, biases, layout = _weights(layer)
        layouts.add(layout)
        filters = np.asarray(filters, np.float32)
        biases = np.asarray(biases, np.float32).ravel()
        if filters.ndim == 3:  # MATLAB drops a trailing singleton dimension
          filters = filters[..., None]
        if ours == "fc6":
          kernel = size
        if cin is None:
          cin = fc_features
        if cout is None:  # fc6 and fc8 set the widths; fc7 keeps fc6's (ours has one)
          cout = fc_features if ours == "fc7" else filters.shape[-1]
        shape = (kernel, kernel, cin, cout)
        if filters.shape != shape:
          raise ValueError(f"filters of {filters.shape}; VGG-F here needs {shape}"
                           + (f" (a {image_size}x{image_size} input reaches fc6 as "
                              f"{size}x{size}x{channels})" if ours == "fc6" else ""))
        if biases.shape != (cout,):
          raise ValueError(f"{biases.size} biases for {cout} filters")
        got_stride = _pair(_numbers(_field(layer, "stride", 1)), "stride")
        got_pad = _pads(_numbers(_field(layer, "pad", 0)), "conv")
        dilate = _pair(_numbers(_field(layer, "dilate", 1)), "dilate")
        if got_stride != (stride, stride) or got_pad != (pad,) * 4 or dilate != (1, 1):
          raise ValueError(f"stride {list(got_stride)} pad {list(got_pad)} dilate "
                           f"{list(dilate)}; VGG-F's {ours} has stride {stride} pad {pad}")
        size = (size + 2 * pad - kernel) // stride + 1
        channels = cout
        if ours == "fc6":
          fc_features = cout
        if ours == "fc8":
          num_classes = cout
        params[ours] = {"kernel": filters.reshape(-1, cout) if ours.startswith("fc")
                        else filters, "bias": biases}
      elif want == "relu":
        leak = _numbers(_field(layer, "leak", 0))
        if leak.size and leak[0] != 0:
          raise ValueError(f"a leaky ReLU (leak {leak[0]}); VGG-F's are plain")
      elif want == "lrn":
        param = _numbers(_field(layer, "param", np.asarray(DEFAULT_LRN)))
        if param.size != 4:
          raise ValueError(f"param {list(param)}: expected [N kappa alpha beta]")
        param = (int(param[0]),) + tuple(float(v) for v in param[1:])
        if lrn is not None and param != lrn:
          raise ValueError(f"param {list(param)} differs from the first LRN's {list(lrn)}; "
                           "our VGG-F has one setting for both")
        lrn = param
      elif want == "pool":
        method = _text(_field(layer, "method")) or "max"
        if _field(layer, "pool") is None:
          raise ValueError("no pool size")
        window = _pair(_numbers(_field(layer, "pool")), "pool")
        stride = _pair(_numbers(_field(layer, "stride", 1)), "stride")
        pads = _pads(_numbers(_field(layer, "pad", 0)), "pool")
        if method != "max" or window != (3, 3) or stride != (2, 2):
          raise ValueError(f"{method} pooling {list(window)} stride {list(stride)}; VGG-F "
                           "max-pools 3x3 with stride 2")
        if max(pads) >= 3:
          raise ValueError(f"pad {list(pads)} is not smaller than the 3x3 window")
        pool_pads[slot[1]] = pads
        top, bottom, left, right = pads
        height = (size + top + bottom - 3) // 2 + 1
        if height != (size + left + right - 3) // 2 + 1:
          raise ValueError(f"pad {list(pads)} makes a map that is not square")
        size = height
    except ValueError as e:
      raise FormatError(f"{where}: {e}") from None
    expected += 1
  if expected < HEADLESS:
    slot = VGG_F[expected]
    raise FormatError(f"{file}: ends after layer {position}; VGG-F goes on with a {slot[0]} "
                      f"layer{' (ours: ' + slot[1] + ')' if slot[0] == 'conv' else ''}")
  class_ids = [_text(v) for v in _items(_field(classes, "name", np.zeros((0,), object)))] \
      if classes is not None else []
  class_names = [_text(v) for v in _items(_field(classes, "description",
                                                 np.zeros((0,), object)))] \
      if classes is not None else []
  return Network(layout="older" if "older" in layouts else "current",
                 params=params, lrn_params=lrn, pool_pads=tuple(pool_pads),
                 image_size=image_size, average=average, fc_features=fc_features,
                 num_classes=num_classes, class_ids=class_ids, class_names=class_names,
                 layers=len(params))
