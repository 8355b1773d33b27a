"""MatConvNet's VGG-F (`imagenet-vgg-f.mat`) -> our checkpoint: files of both SimpleNN
layouts written with scipy (random weights, MatConvNet's field names and shapes), logits
through the user's path (convert, printed overrides, `init_from`) against a NumPy forward
pass written from MatConvNet's documented semantics (`vl_nnconv`, `vl_nnpool`,
`vl_nnnormalize`), and the one-line errors."""
import json
import os
import shlex

import jax
import numpy as np
import pytest
import scipy.io

from launch import config as config_lib
from launch import train
from zoo.data import imagenet
from zoo.models import convert, matconvnet
from zoo.tasks import classification


def vgg_f_layers(rng, fc, classes, lrn_param):
  """VGG-F's SimpleNN layers as MatConvNet's imagenet-vgg-f.mat lists them: dicts with
  `type`, `name`, `filters` HxWxCinxCout, `biases`, `stride`, `pad` [t b l r], `pool`,
  `param`. Weights at He scale so the logits keep a real scale."""
  def conv(name, k, cin, cout, stride=1, pad=0):
    w = rng.normal(0, np.sqrt(2.0 / (k * k * cin)), (k, k, cin, cout)).astype(np.float32)
    return dict(type="conv", name=name, filters=w,
                biases=rng.normal(0, 0.1, (1, cout)).astype(np.float32),
                stride=[stride, stride], pad=[pad] * 4)
  relu = lambda i: dict(type="relu", name=f"relu{i}", leak=0.0)
  lrn = lambda i: dict(type="lrn", name=f"norm{i}", param=list(lrn_param))
  pool = lambda i, pad: dict(type="pool", name=f"pool{i}", method="max", pool=[3, 3],
                             stride=[2, 2], pad=pad)
  return [conv("conv1", 11, 3, 64, stride=4), relu(1), lrn(1), pool(1, [0, 1, 0, 1]),
          conv("conv2", 5, 64, 256, pad=2), relu(2), lrn(2), pool(2, [0, 0, 0, 0]),
          conv("conv3", 3, 256, 256, pad=1), relu(3), conv("conv4", 3, 256, 256, pad=1),
          relu(4), conv("conv5", 3, 256, 256, pad=1), relu(5), pool(5, [0, 0, 0, 0]),
          conv("fc6", fc[0], 256, fc[1]), relu(6), conv("fc7", 1, fc[1], fc[1]), relu(7),
          conv("fc8", 1, fc[1], classes), dict(type="softmax", name="prob")]


def cell(items):
  """A MATLAB cell array (1 x N) for savemat."""
  out = np.empty((1, len(items)), dtype=object)
  for i, item in enumerate(items):
    out[0, i] = item
  return out


def write_mat(path, layers, average, image_size, classes, layout):
  """Writes `layers` in the current layout (weights = {filters, biases}, meta.*, type
  'lrn') or the older one (filters/biases fields, top-level normalization/classes, type
  'normalize', scalar stride/pad where all sides agree, dropout layers kept)."""
  written = []
  for layer in layers:
    layer = dict(layer)
    if layout == "current" and "filters" in layer:
      layer["weights"] = cell([layer.pop("filters"), layer.pop("biases")])
    if layout == "older":
      if layer["type"] == "lrn":
        layer["type"] = "normalize"
      for key in ("stride", "pad"):
        if key in layer and len(set(layer[key])) == 1:
          layer[key] = float(layer[key][0])
    written.append(layer)
    if layout == "older" and layer["name"] in ("relu6", "relu7"):
      written.append(dict(type="dropout", name=f"dropout{layer['name'][-1]}", rate=0.5))
  normalization = dict(averageImage=average, imageSize=[image_size, image_size, 3],
                       interpolation="bilinear", keepAspect=1.0, border=[32, 32])
  names = dict(name=cell([f"n{i:08d}" for i in range(classes)]),
               description=cell([f"class {i}, a thing" for i in range(classes)]))
  contents = {"layers": cell(written)}
  if layout == "current":
    contents["meta"] = dict(normalization=normalization, classes=names,
                            inputs=dict(name="input", size=[image_size, image_size, 3, 10]))
  else:
    contents.update(normalization=normalization, classes=names)
  scipy.io.savemat(path, contents)


# --- MatConvNet's semantics, in NumPy (H x W x C per image, as MATLAB holds them) ---

def mcn_conv(x, w, b, stride, pad):
  """vl_nnconv: y(i'',j'',d'') = b(d'') + sum f(i',j',d',d'') x(S(i''-1)+i'-Pt, ...), zeros
  outside the map; out = floor((H + Pt + Pb - Kh)/S) + 1."""
  t, btm, l, r = pad
  x = np.pad(x, ((0, 0), (t, btm), (l, r), (0, 0)))
  kh, kw = w.shape[:2]
  ho, wo = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
  y = np.zeros((x.shape[0], ho, wo, w.shape[3]), np.float64) + b.ravel()
  for i in range(kh):
    for j in range(kw):
      patch = x[:, i:i + (ho - 1) * stride + 1:stride, j:j + (wo - 1) * stride + 1:stride]
      y += patch @ w[i, j].astype(np.float64)
  return y


def mcn_pool(x, window, stride, pad):
  """vl_nnpool max: over the window's cells inside the map (x1 = max(x*S - Pl, 0), x2 =
  min(x*S - Pl + W, width)); out = floor((H + Pt + Pb - W)/S) + 1."""
  t, btm, l, r = pad
  h, w = x.shape[1:3]
  ho, wo = (h + t + btm - window) // stride + 1, (w + l + r - window) // stride + 1
  y = np.empty((x.shape[0], ho, wo, x.shape[3]))
  for u in range(ho):
    for v in range(wo):
      y1, x1 = u * stride - t, v * stride - l
      y2, x2 = min(y1 + window, h), min(x1 + window, w)
      y[:, u, v] = x[:, max(y1, 0):y2, max(x1, 0):x2].max(axis=(1, 2))
  return y


def mcn_normalize(x, param):
  """vl_nnnormalize: x / (kappa + alpha * sum over Q(k) of x^2)^beta, Q(k) = [max(1,
  k - floor((N-1)/2)), min(D, k + ceil((N-1)/2))]."""
  n, kappa, alpha, beta = param
  below, above = int(np.floor((n - 1) / 2)), int(np.ceil((n - 1) / 2))
  d = x.shape[-1]
  y = np.empty_like(x)
  for k in range(d):
    total = np.sum(np.square(x[..., max(0, k - below):min(d, k + above + 1)]), axis=-1)
    y[..., k] = x[..., k] / (kappa + alpha * total) ** beta
  return y


def mcn_forward(layers, average, images):
  """vl_simplenn's forward pass up to the softmax: the logits."""
  x = images.astype(np.float64) - average.astype(np.float64)
  for layer in layers:
    kind = layer["type"]
    if kind == "conv":
      x = mcn_conv(x, layer["filters"], layer["biases"], layer["stride"][0], layer["pad"])
    elif kind == "relu":
      x = np.maximum(x, 0.0)
    elif kind == "lrn":
      x = mcn_normalize(x, layer["param"])
    elif kind == "pool":
      x = mcn_pool(x, layer["pool"][0], layer["stride"][0], layer["pad"])
  return x.reshape(x.shape[0], -1)


def logits_through_init_from(info, images):
  """The user's path: the imagenet_vgg_f config with the printed overrides, the
  classification task, `init_from` as the loop applies it, then its predict_fn."""
  config = config_lib.resolve("imagenet_vgg_f", info["settings"])
  task = classification.Task(config, data=imagenet, steps_per_epoch=1, total_steps=1)
  # The initial state's shapes only (random init compiles slowly on a loaded CPU): every
  # parameter must then come from the checkpoint, which the loop's merge checks by shape.
  initial = jax.eval_shape(task.init, jax.random.key(0))
  state = train._load_pretrained(initial, config.init_from)  # pylint: disable=protected-access
  assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(state.params))
  return np.asarray(jax.jit(task.predict_fn)(state, {"image": images})["logits"])


def converted_logits_against_matconvnet(tmp_path, layout, image_size, mean_image, lrn_param):
  """Writes a VGG-F in `layout`, converts it, returns max |our logits - MatConvNet's| (and
  checks what the conversion says)."""
  rng = np.random.default_rng(image_size)
  fc, classes = 32, 1000  # narrow fc layers; 1000 classes: the ImageNet task's head
  fc6_kernel = {224: 6, 96: 2, 64: 1}[image_size]  # the map reaching fc6: 6x6x256 at 224
  layers = vgg_f_layers(rng, (fc6_kernel, fc), classes, lrn_param)
  average = (rng.uniform(90, 140, (image_size, image_size, 3)) if mean_image
             else np.asarray([[[122.7, 116.7, 104.0]]])).astype(np.float32)
  mat = str(tmp_path / f"{layout}-vgg-f.mat")
  write_mat(mat, layers, average, image_size, classes, layout)
  out = str(tmp_path / f"{layout}-converted")
  info = convert.convert_matconvnet(mat, out)
  assert info["matconvnet_layout"] == layout and info["layers"] == 8
  assert info["num_classes"] == classes and info["image_size"] == image_size
  assert info["class_names"][3] == "class 3, a thing" and info["class_ids"][3] == "n00000003"
  lrn = ",".join(repr(float(v)) if i else str(v) for i, v in enumerate(lrn_param))
  assert f"--config.model.lrn_params={lrn}" in info["settings"]
  assert "--config.model.pool_pads=((0,1,0,1),(0,0,0,0),(0,0,0,0))" in info["settings"]
  assert os.path.exists(os.path.join(out, "average_image.npy")) == mean_image

  images = rng.integers(0, 256, (2, image_size, image_size, 3), dtype=np.uint8)
  expected = mcn_forward(layers, average, images)
  ours = logits_through_init_from(info, images)
  difference = float(np.max(np.abs(ours - expected)))
  print(f"{layout} layout, {image_size}x{image_size}: max |logit difference| "
        f"{difference:.3g}, max |logit| {np.max(np.abs(expected)):.3g}")
  assert np.std(expected) > 0.5  # logits of a real scale
  # float32 round-off; Caffe's LRN convention (alpha / N) or a shifted pooling window
  # would be orders of magnitude off
  assert difference < 1e-5 * np.max(np.abs(expected))
  return difference


def test_both_layouts_logits_match_matconvnet_through_init_from(tmp_path):
  # Small inputs: 96x96 reaches fc6 as 2x2x256 (so the flatten order counts), 64x64 as
  # 1x1x256. A mean image in the current layout, a per-channel mean in the older one;
  # MatConvNet's LRN alpha (not divided by N).
  converted_logits_against_matconvnet(tmp_path, "current", 96, True, (5, 1.0, 1e-4, 0.75))
  converted_logits_against_matconvnet(tmp_path, "older", 64, False, (5, 2.0, 2e-4, 0.75))


@pytest.mark.slow
def test_vgg_f_at_224_logits_match_matconvnet_through_init_from(tmp_path):
  # the file as distributed: 224 input, fc6 a 6x6 convolution over 6x6x256, a mean image
  converted_logits_against_matconvnet(tmp_path, "current", 224, True, (5, 1.0, 1e-4, 0.75))


def test_errors_name_the_first_layer_that_does_not_fit_and_write_nothing(tmp_path):
  rng = np.random.default_rng(0)
  out = str(tmp_path / "out")

  def fails(layers, match, layout="current"):
    mat = str(tmp_path / "net.mat")
    write_mat(mat, layers, np.zeros((1, 1, 3), np.float32), 64, 4, layout)
    with pytest.raises(convert.ConversionError, match=match):
      convert.convert_matconvnet(mat, out)

  good = vgg_f_layers(rng, (1, 8), 4, (5, 1, 1e-4, 0.75))
  bad = [dict(layer) for layer in good]
  bad[4] = dict(bad[4], filters=bad[4]["filters"][..., :128], biases=bad[4]["biases"][:, :128])
  fails(bad, r"net.mat: layer 5 'conv2': filters of \(5, 5, 64, 128\); VGG-F here needs "
             r"\(5, 5, 64, 256\)")
  fails(good[:3] + good[4:], "net.mat: layer 4 'conv2' is a conv layer where VGG-F has a "
                             "pool layer")
  bad = [dict(layer) for layer in good]
  bad[6] = dict(bad[6], param=[5, 1, 1e-3, 0.75])
  fails(bad, r"layer 7 'norm2': param \[5, 1.0, 0.001, 0.75\] differs from the first LRN's")
  bad = [dict(layer) for layer in good]
  bad[7] = dict(bad[7], method="avg")
  fails(bad, "layer 8 'pool2': avg pooling", layout="older")
  wide = vgg_f_layers(rng, (6, 8), 4, (5, 1, 1e-4, 0.75))  # a 224 network read at 64
  fails(wide, r"layer 16 'fc6': filters of \(6, 6, 256, 8\); VGG-F here needs \(1, 1, 256, 8\) "
              r"\(a 64x64 input reaches fc6 as 1x1x256\)")
  fails(good[:10], "net.mat: ends after layer 10; VGG-F goes on with a conv layer "
                   r"\(ours: conv4\)")
  fails(good[:-1] + [dict(type="relu", name="extra")] * 2,
        "layer 21 'extra' \\(relu\\) is one more than VGG-F has")
  scipy.io.savemat(str(tmp_path / "other.mat"), {"weights": np.zeros(3)})
  with pytest.raises(convert.ConversionError, match="other.mat: no 'layers' .*not a MatConvNet"):
    convert.convert_matconvnet(str(tmp_path / "other.mat"), out)
  # a v7.3 file's header (HDF5 underneath): refused with the way out
  (tmp_path / "v73.mat").write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + bytes(8)
                                     + b"\x00\x02IM" + bytes(512))
  with pytest.raises(convert.ConversionError, match="v73.mat: a MATLAB v7.3 .* '-v7'"):
    convert.convert_matconvnet(str(tmp_path / "v73.mat"), out)
  (tmp_path / "text.mat").write_text("not a mat file")
  with pytest.raises(convert.ConversionError, match="text.mat: not a MATLAB .mat file"):
    convert.convert_matconvnet(str(tmp_path / "text.mat"), out)
  assert not os.path.exists(out)  # nothing written by a failed conversion


def test_cli_prints_the_overrides_and_the_video2vec_setting(tmp_path, capsys):
  rng = np.random.default_rng(1)
  layers = vgg_f_layers(rng, (1, 8), 4, (5, 1, 1e-4, 0.75))
  mat = str(tmp_path / "imagenet-vgg-f.mat")
  write_mat(mat, layers, np.full((64, 64, 3), 100, np.float32), 64, 4, "current")
  out = tmp_path / "vgg_f"
  convert.main(["--from=matconvnet", f"--mat={mat}", f"--out={out}"])
  printed = capsys.readouterr().out
  assert "converted 8 layers (16 arrays, 4 classes) of MatConvNet's VGG-F (current layout)" \
      in printed
  for setting in ("--config.model.lrn_params=5,1.0,0.0001,0.75",
                  "'--config.model.pool_pads=((0,1,0,1),(0,0,0,0),(0,0,0,0))'",
                  f"--config.input_normalization=mean:{out}/average_image.npy",
                  "--config.data.image_size=64", f"--config.init_from={out}",
                  f"--config.data.spatial_cnn={out}"):
    assert setting in printed
  # the printed lines are shell words: pasted, they give the overrides back
  words = shlex.split(printed.split("Use them with:")[1].split("As Video2Vec")[0]
                      .replace("\\\n", " "))
  assert words == json.loads((out / "convert.json").read_text())["settings"]
  # what Video2Vec's feature stage reads of a run: the model and its input
  run_config = json.loads((out / "config.json").read_text())
  assert run_config["model"]["fc_features"] == 8 and run_config["data"]["image_size"] == 64
  with pytest.raises(SystemExit) as exit_code:
    convert.main(["--from=matconvnet", f"--mat={mat}", f"--out={out}"])
  assert exit_code.value.code == 2 and "exists and is not empty" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    convert.main(["--from=matconvnet", f"--out={tmp_path / 'other'}"])
  assert "--from=matconvnet needs --mat" in capsys.readouterr().err


def test_reads_a_net_variable_and_the_defaults_vl_simplenn_tidy_fills_in(tmp_path):
  """A file saved as one `net` struct; conv layers without pad/stride/dilate fields."""
  rng = np.random.default_rng(2)
  layers = vgg_f_layers(rng, (1, 8), 4, (5, 1, 1e-4, 0.75))
  for layer in layers:
    if layer["name"] in ("fc7", "fc8"):
      del layer["pad"], layer["stride"]
  mat = str(tmp_path / "net-epoch-20.mat")
  scipy.io.savemat(mat, {"net": {"layers": cell(layers), "meta": {
      "normalization": {"averageImage": np.zeros((1, 1, 3)), "imageSize": [64, 64, 3]}}}})
  net = matconvnet.read_vgg_f(mat)
  assert net.layout == "older" and net.num_classes == 4 and net.class_names == []
  assert net.params["fc6"]["kernel"].shape == (256, 8)
