"""Keras Applications weights -> our checkpoints: error paths on tiny files (fast, no
TensorFlow), and logits equal to Keras' own for InceptionV3, ResNet50 and VGG16, VGG19's
`_notop` features (slow, need the `keras` extra)."""
import json
import os
import subprocess
import sys

import h5py
import jax
import numpy as np
import pytest

from conftest import ROOT
from launch import checkpoint
from zoo.models import convert, inception_v3, resnet, vgg


def write_legacy_h5(path, layers):
  """Keras' legacy weights layout: `layers` is [(layer name, [(weight name, array)])]."""
  with h5py.File(path, "w") as f:
    f.attrs["layer_names"] = [name.encode() for name, _ in layers]
    for name, weights in layers:
      group = f.create_group(name)
      group.attrs["weight_names"] = [f"{name}/{w}:0".encode() for w, _ in weights]
      for w, array in weights:
        group.create_dataset(f"{name}/{w}:0", data=array)


def bn(channels):
  return [("beta", np.zeros(channels, np.float32)),
          ("moving_mean", np.zeros(channels, np.float32)),
          ("moving_variance", np.ones(channels, np.float32))]


def test_errors_name_the_file_and_the_first_layer_that_does_not_fit(tmp_path):
  out = str(tmp_path / "out")
  with pytest.raises(convert.ConversionError, match="missing.h5: no such file"):
    convert.convert_keras("inception_v3", str(tmp_path / "missing.h5"), out)
  text = tmp_path / "notes.h5"
  text.write_text("not hdf5")
  with pytest.raises(convert.ConversionError, match="notes.h5: not an HDF5 file"):
    convert.convert_keras("inception_v3", str(text), out)

  # The stem of Keras' InceptionV3: conv 3x3x3->32, BN, conv 3x3x32->32 (here 32->16).
  wrong = str(tmp_path / "wrong.h5")
  write_legacy_h5(wrong, [
      ("conv2d", [("kernel", np.zeros((3, 3, 3, 32), np.float32))]),
      ("batch_normalization", bn(32)),
      ("conv2d_1", [("kernel", np.zeros((3, 3, 32, 16), np.float32))]),
      ("batch_normalization_1", bn(16))])
  with pytest.raises(convert.ConversionError,
                     match=r"wrong.h5: layer 'conv2d_1' has arrays of shapes \[\(3, 3, 32, 16\)"
                           r"\]; .* needs \[\(3, 3, 32, 32\)\]"):
    convert.convert_keras("inception_v3", wrong, out)
  with pytest.raises(convert.ConversionError,
                     match="wrong.h5: layer 'conv2d' is not a layer of Keras' ResNet50"):
    convert.convert_keras("resnet50", wrong, out)

  short = str(tmp_path / "short.h5")
  write_legacy_h5(short, [("conv1_conv", [("kernel", np.zeros((7, 7, 3, 64), np.float32)),
                                          ("bias", np.zeros(64, np.float32))])])
  with pytest.raises(convert.ConversionError,
                     match="short.h5: has no layer 'conv1_bn' of Keras' ResNet50"):
    convert.convert_keras("resnet50", short, out)

  keras3 = str(tmp_path / "model.weights.h5")
  with h5py.File(keras3, "w") as f:
    f.create_dataset("layers/conv2d/vars/0", data=np.zeros((3, 3, 3, 32), np.float32))
  with pytest.raises(convert.ConversionError, match="model.weights.h5: a Keras 3 .weights.h5"):
    convert.convert_keras("inception_v3", keras3, out)
  assert not os.path.exists(out)  # nothing written by a failed conversion


def test_refuses_a_non_empty_out_dir_and_the_cli_says_why(tmp_path):
  out = tmp_path / "out"
  out.mkdir()
  (out / "keep.txt").write_text("mine")
  with pytest.raises(convert.ConversionError, match="exists and is not empty"):
    convert.convert_keras("resnet50", str(tmp_path / "any.h5"), str(out))
  assert (out / "keep.txt").read_text() == "mine"
  proc = subprocess.run([sys.executable, "-m", "zoo.models.convert", "--from=keras",
                         "--model=resnet50", f"--h5={tmp_path / 'missing.h5'}",
                         f"--out={tmp_path / 'new'}"],
                        cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert proc.returncode == 2
  assert f"error: {tmp_path / 'missing.h5'}: no such file" in proc.stderr


# --- against Keras itself (slow: builds both networks in TensorFlow and JAX) ---

def _randomize_keras(model, rng):
  """Random batch-norm statistics and offsets, so their conversion is exercised."""
  for layer in model.layers:
    if layer.__class__.__name__ == "BatchNormalization":
      values = []
      for w in layer.weights:
        shape, name = w.shape, w.path.split("/")[-1]
        if name in ("gamma", "moving_variance"):
          values.append(rng.uniform(0.5, 1.5, shape))
        else:
          values.append(rng.normal(0.0, 0.2, shape))
      layer.set_weights([v.astype(np.float32) for v in values])


def _keras_file(name, path, rng, scale=1.0, **kwargs):
  """Builds Keras' network with random weights, writes them in the Applications' legacy
  layout, returns its logits on two random images (uniform in +-scale)."""
  pytest.importorskip("tensorflow")
  os.environ.setdefault("KERAS_BACKEND", "tensorflow")
  keras = pytest.importorskip("keras")
  from keras.src.legacy.saving import legacy_h5_format
  build = {"inception_v3": keras.applications.InceptionV3,
           "resnet50": keras.applications.ResNet50, "vgg16": keras.applications.VGG16,
           "vgg19": keras.applications.VGG19}[name]
  if kwargs.get("include_top", True):
    kwargs["classifier_activation"] = None
  model = build(weights=None, **kwargs)
  _randomize_keras(model, rng)
  size = kwargs["input_shape"][0] if "input_shape" in kwargs else convert.MODELS[name].image_size
  images = rng.uniform(-scale, scale, (2, size, size, 3)).astype(np.float32)
  if kwargs.get("include_top", True):
    logits = np.asarray(model(images, training=False))
  else:  # the last ReLU before the last pooling: what our features=True ends with
    last = [layer.name for layer in model.layers if "conv" in layer.name][-1]
    logits = np.asarray(keras.Model(model.inputs, model.get_layer(last).output)(images))
  with h5py.File(path, "w") as f:
    legacy_h5_format.save_weights_to_hdf5_group(f, model)
  return images, logits


def _our_logits(name, directory, images, **kwargs):
  state = checkpoint.load_params(directory)
  variables = {"params": state["params"],
               "batch_stats": state.get("model_state", {}).get("batch_stats", {})}
  spec = convert.MODELS[name]
  module = {"inception_v3": inception_v3, "resnet50": resnet, "vgg16": vgg, "vgg19": vgg}[name]
  model = module.Model(conv_matmul_grads=False, **spec.fields)
  apply = lambda v, x: model.apply(v, x, **kwargs)
  return jax.tree.map(np.asarray, jax.jit(apply)(variables, images))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras' set_weights under numpy 2
def test_inception_v3_logits_match_keras(tmp_path):
  rng = np.random.default_rng(0)
  h5 = str(tmp_path / "inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
  images, expected = _keras_file("inception_v3", h5, rng)
  info = convert.convert_keras("inception_v3", h5, str(tmp_path / "out"))
  assert info["layers"] == 94 * 2 + 1 and info["num_classes"] == 1000
  logits = _our_logits("inception_v3", str(tmp_path / "out"), images)
  assert np.std(expected) > 0.1  # logits of a real scale, not a vanishing signal
  np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)

  with h5py.File(h5, "a") as f:  # the same without the classifier: a "_notop" file
    del f["predictions"]
    f.attrs["layer_names"] = [n for n in f.attrs["layer_names"]
                              if n not in ("predictions", b"predictions")]
  info = convert.convert_keras("inception_v3", h5, str(tmp_path / "notop"))
  assert info["layers"] == 94 * 2 and info["num_classes"] is None
  state = checkpoint.load_params(str(tmp_path / "notop"))
  assert "predictions" not in state["params"] and "mixed10" in state["params"]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_resnet50_logits_match_keras_through_the_cli(tmp_path):
  rng = np.random.default_rng(1)
  h5 = str(tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels.h5")
  images, expected = _keras_file("resnet50", h5, rng)
  out = tmp_path / "out"
  proc = subprocess.run([sys.executable, "-m", "zoo.models.convert", "--from=keras",
                         "--model=resnet50", f"--h5={h5}", f"--out={out}"],
                        cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  for setting in ("--config.model.stride_in_1x1=true", "--config.model.conv_bias=true",
                  "--config.model.bn_epsilon=1.001e-05", "--config.input_normalization=caffe"):
    assert setting in proc.stdout
  info = json.loads((out / "convert.json").read_text())
  assert info["layers"] == 53 * 2 + 1 and info["model"] == "resnet50"
  logits = _our_logits("resnet50", str(out), images)
  assert np.std(expected) > 0.1
  np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-4)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_vgg16_logits_and_vgg19_notop_features_match_keras(tmp_path):
  rng = np.random.default_rng(2)
  h5 = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5")
  images, expected = _keras_file("vgg16", h5, rng, scale=128.0)  # Caffe's input scale
  info = convert.convert_keras("vgg16", h5, str(tmp_path / "vgg16"))
  assert info["layers"] == 13 + 3 and info["num_classes"] == 1000
  logits = _our_logits("vgg16", str(tmp_path / "vgg16"), images)
  difference = float(np.max(np.abs(logits - expected)))
  print(f"VGG16: max |logit difference| {difference:.3g}, max |logit| "
        f"{np.max(np.abs(expected)):.3g}")
  assert np.std(expected) > 0.1
  assert difference < 1e-5 * np.max(np.abs(expected))

  h5 = str(tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5")
  images, expected = _keras_file("vgg19", h5, rng, scale=128.0, include_top=False,
                                 input_shape=(64, 64, 3))
  info = convert.convert_keras("vgg19", h5, str(tmp_path / "vgg19"))
  assert info["layers"] == 16 and info["num_classes"] is None
  blocks = _our_logits("vgg19", str(tmp_path / "vgg19"), images, features=True)["blocks"]
  difference = float(np.max(np.abs(np.asarray(blocks[-1]) - expected)))
  print(f"VGG19 notop: max |relu5_4 difference| {difference:.3g}, max {np.max(expected):.3g}")
  assert np.max(expected) > 0.1 and np.mean(expected > 0) > 0.05  # Glorot init shrinks it
  assert difference < 1e-5 * np.max(np.abs(expected))
