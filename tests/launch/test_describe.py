"""`--describe`: per-layer rows and totals of an experiment's network, checked against the
published parameter counts and XLA's FLOP count of the same forward pass."""
import jax
import jax.numpy as jnp
import ml_collections

from conftest import launch
from launch import config as config_lib
from launch import describe
from zoo.tasks import classification


def xla_flops(config, num_classes):
  """XLA's cost analysis of the jitted evaluation forward pass on one image."""
  model = classification.build_model(config.model, num_classes)
  size = config.data.image_size
  image = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), image)
  cost = jax.jit(model.apply).lower(variables, image).compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  return cost["flops"]


def by_path(rows):
  return {row.path: row for row in rows}


def googlenet_config(aux_logits=True):
  config = config_lib.resolve("imagenet_vgg_f", [])  # ImageNet data at 224x224
  config.model = ml_collections.ConfigDict(dict(
      name="googlenet", dropout_rate=0.4, aux_dropout_rate=0.7, aux_logits=aux_logits,
      lrn=True, dtype="float32", param_dtype="float32", conv_matmul_grads="auto"))
  return config


def test_vgg_f_rows_and_totals():
  config = config_lib.resolve("imagenet_vgg_f", [])
  rows, totals = describe.describe(config)
  assert totals["params"] == 60_834_536 and totals["num_classes"] == 1000
  assert totals["params_inference"] == 60_834_536 and totals["training_only"] == []
  assert sum(row.params for row in rows) == totals["params"]
  rows = by_path(rows)
  conv1 = rows["conv1"]
  assert (conv1.type, conv1.kernel, conv1.stride, conv1.padding) == ("Conv", "11x11", "4x4", "0")
  assert conv1.output == (54, 54, 64) and conv1.params == 23_296
  assert conv1.flops == 2 * 54 * 54 * 64 * 11 * 11 * 3
  assert rows["MaxPool_0"].output == (27, 27, 64) and rows["MaxPool_0"].padding.startswith("ceil")
  assert rows["fc6"].flops == 2 * 9216 * 4096 and rows["Dropout_0"].type == "Dropout 0.5"


def test_flops_agree_with_xla():
  # XLA counts a convolution's multiply-adds only where the kernel meets real input (the
  # taps on zero padding are left out: 7.7% of VGG-F's FLOPs at 224, 31% at 64) and adds
  # biases, ReLU, LRN and pooling, which the rows do not count: measured 0.4% above the
  # unpadded count for VGG-F at 224 and 64, 0.85% for GoogLeNet. Tolerance: 0 to 2%.
  for config in (config_lib.resolve("imagenet_vgg_f", []),
                 config_lib.resolve("imagenet_vgg_f:smoke", []),
                 googlenet_config(aux_logits=False)):
    _, totals = describe.describe(config)
    ratio = xla_flops(config, totals["num_classes"]) / totals["flops_unpadded"]
    assert 1.0 <= ratio < 1.02, (config.model.name, config.data.image_size, ratio)
    assert totals["flops_unpadded"] < totals["flops"]


def test_googlenet():
  rows, totals = describe.describe(googlenet_config())
  assert totals["params"] == 13_378_280
  # The auxiliary classifiers run in evaluation mode too, but nothing reads their output.
  assert totals["params_inference"] == 6_998_552 and totals["training_only"] == ["aux1", "aux2"]
  assert "parameters: 13,378,280 (6,998,552 without the training-only heads: aux1, aux2)" \
      in describe.format_table(rows, totals)
  rows = by_path(rows)
  reduce, conv = rows["inception_3a/branch3x3/Conv_0"], rows["inception_3a/branch3x3/Conv_1"]
  assert (reduce.kernel, reduce.output) == ("1x1", (28, 28, 96))
  assert (conv.kernel, conv.padding, conv.output) == ("3x3", "1", (28, 28, 128))
  assert conv.params == 110_720 and conv.flops == 2 * 28 * 28 * 128 * 9 * 96
  assert rows["aux1/AvgPool_0"].output == (4, 4, 512) and rows["aux1/AvgPool_0"].stride == "3x3"
  assert rows["AvgPool_0"].kernel == "7x7" and rows["classifier"].output == (1000,)
  # Table 1's "ops" of 3a: 128M multiply-adds.
  ops_3a = sum(r.flops for p, r in rows.items() if p.startswith("inception_3a/")) / 2
  assert round(ops_3a / 1e6) == 128


def test_describe_flag_prints_the_table_without_a_workdir():
  proc = launch("--experiment=imagenet_vgg_f:smoke", "--describe", timeout=120)
  lines = proc.stdout.splitlines()
  assert lines[0].split("|")[1].strip() == "layer"
  # smoke: fc 256 at 64x64, 10 classes: convs 2,203,392 + fc6 (1x1x256) 65,792
  # + fc7 65,792 + fc8 2,570.
  assert "parameters: 2,337,546" in lines
  assert any(line.startswith("| conv1 ") and "14x14x64" in line for line in lines)
  assert "Unable to initialize backend" not in proc.stderr  # jax's probing of absent backends


def test_inception_v3_without_its_auxiliary_head_is_the_published_figure():
  # Szegedy et al. 2016 / Keras' InceptionV3: 23.8M; the head is built only for training.
  _, totals = describe.describe(config_lib.resolve("imagenet_inception_v3", []))
  assert totals["params"] == 27_143_152
  assert totals["params_inference"] == 23_817_352 and totals["training_only"] == ["aux"]
