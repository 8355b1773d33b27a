"""VGG-16/19 (Keras Applications' layout): parameter counts, a `_notop` file converted and
used as the facial-attribute perceptual network (its relu1_2 against a NumPy forward pass on
Caffe's input), the converter's errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import face_attributes
from test_convert import write_legacy_h5
from zoo.models import convert, vgg
from zoo.tasks import attribute_manipulation, classification


def count(tree):
  return sum(x.size for x in jax.tree.leaves(tree))


def test_parameter_counts_match_keras():
  # keras.applications.VGG16().count_params() and VGG19's
  for depth, expected in ((16, 138_357_544), (19, 143_667_240)):
    variables = jax.eval_shape(vgg.Model(depth=depth).init, jax.random.key(0),
                               jnp.zeros((1, 224, 224, 3)))
    assert count(variables["params"]) == expected


def notop_layers(rng, depth):
  """Keras' `_notop` weights: (layer name, [(weight name, array)]) per convolution."""
  layers, cin = [], 3
  for b, (width, convs) in enumerate(zip(vgg.WIDTHS, vgg.CONVS[depth])):
    for i in range(convs):
      layers.append((f"block{b + 1}_conv{i + 1}", [
          ("kernel", rng.normal(0, np.sqrt(2 / (9 * cin)), (3, 3, cin, width)).astype(np.float32)),
          ("bias", rng.normal(0, 0.1, width).astype(np.float32))]))
      cin = width
  return layers


def conv_same(x, kernel, bias):
  """3x3 'same' correlation, NHWC, in float64."""
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  h, w = x.shape[1:3]
  y = np.zeros(x.shape[:3] + (kernel.shape[3],)) + bias
  for i in range(3):
    for j in range(3):
      y += xp[:, i:i + h, j:j + w] @ kernel[i, j].astype(np.float64)
  return y


def test_notop_file_as_the_perceptual_network(tmp_path):
  rng = np.random.default_rng(0)
  layers = notop_layers(rng, 16)
  h5 = str(tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")
  write_legacy_h5(h5, layers)
  out = str(tmp_path / "vgg16")
  info = convert.convert_keras("vgg16", h5, out)
  assert info["layers"] == 13 and info["num_classes"] is None
  assert info["settings"] == [f"--config.manipulation.perceptual=vgg16:{out}"]

  phi = attribute_manipulation.FrozenVGG(f"vgg16:{out}", num_blocks=2)
  x = rng.uniform(-1, 1, (2, 16, 16, 3)).astype(np.float32)  # the generator's range
  blocks = phi.features(jnp.asarray(x))["blocks"]
  assert [b.shape for b in blocks] == [(2, 16, 16, 64), (2, 8, 8, 128)]
  # relu1_2 on Caffe's input: BGR on the 0-255 scale minus the ImageNet mean
  caffe = ((x.astype(np.float64) + 1) * 127.5)[..., ::-1] - np.asarray(
      classification.CAFFE_MEAN_BGR)
  weights = dict((name, [a for _, a in arrays]) for name, arrays in layers)
  relu1_1 = np.maximum(conv_same(caffe, *weights["block1_conv1"]), 0)
  relu1_2 = np.maximum(conv_same(relu1_1, *weights["block1_conv2"]), 0)
  np.testing.assert_allclose(blocks[0], relu1_2, rtol=1e-4, atol=1e-4 * relu1_2.max())

  config = face_attributes.get_config("smoke")  # what the task builds for the setting
  config.manipulation.perceptual = info["settings"][0].partition("=")[2]
  assert isinstance(attribute_manipulation.perceptual_network(config),
                    attribute_manipulation.FrozenVGG)

  with pytest.raises(ValueError, match="has no block3_conv4 of VGG19"):
    attribute_manipulation.FrozenVGG(f"vgg19:{out}", num_blocks=3)
  with pytest.raises(ValueError, match="perceptual='vgg16': expected vgg16:DIR"):
    attribute_manipulation.FrozenVGG("vgg16", num_blocks=2)


def test_errors_name_the_layer(tmp_path):
  rng = np.random.default_rng(1)
  layers = notop_layers(rng, 16)
  h5 = str(tmp_path / "short.h5")
  write_legacy_h5(h5, layers[:3])
  with pytest.raises(convert.ConversionError, match="short.h5: has no layer 'block2_conv2' "
                                                    "of Keras' VGG16"):
    convert.convert_keras("vgg16", h5, str(tmp_path / "out"))
  write_legacy_h5(h5, layers[:2] + [("conv2d", layers[2][1])])
  with pytest.raises(convert.ConversionError, match="layer 'conv2d' is not a layer of Keras' "
                                                    "VGG19"):
    convert.convert_keras("vgg19", h5, str(tmp_path / "out"))
  write_legacy_h5(h5, notop_layers(rng, 19))  # VGG19's file read as VGG16
  with pytest.raises(convert.ConversionError, match="layer 'block3_conv4' is not a layer of "
                                                    "Keras' VGG16"):
    convert.convert_keras("vgg16", h5, str(tmp_path / "out"))
