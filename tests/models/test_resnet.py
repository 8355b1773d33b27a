"""ResNet-50 v1.5: the published parameter count, output shape, v1.5 strides."""
import jax
import jax.numpy as jnp
import numpy as np

from zoo.models import resnet


def test_parameter_count_matches_the_published_figure():
  # 25,557,032 trainable parameters: torchvision resnet50 / NVIDIA's ResNet-50 v1.5
  # (no conv biases); Keras' ResNet50 (v1 with conv biases) has 25,583,592.
  variables = jax.eval_shape(lambda: resnet.Model().init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert sum(x.size for x in jax.tree.leaves(variables["params"])) == 25_557_032
  assert sum(x.size for x in jax.tree.leaves(variables["batch_stats"])) == 53_120


def test_v1_5_strides_in_the_3x3_convolution_and_output_shape():
  model = resnet.Model(num_classes=5, stage_sizes=(1, 1), width=8)
  x = jnp.zeros((2, 32, 32, 3))
  variables = model.init(jax.random.key(0), x)
  block = variables["params"]["Bottleneck_1"]
  assert block["Conv_0"]["kernel"].shape == (1, 1, 32, 16)  # the 1x1 keeps stride 1 ...
  out, state = model.apply(variables, x, train=True, mutable=["batch_stats"])
  assert out.shape == (2, 5) and "batch_stats" in state
  _, inter = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
  blocks = inter["intermediates"]
  assert blocks["Bottleneck_0"]["__call__"][0].shape == (2, 8, 8, 32)  # 32 / stem 2 / pool 2
  assert blocks["Bottleneck_1"]["__call__"][0].shape == (2, 4, 4, 64)  # ... the 3x3 halves it


def test_keras_v1_layout_count_and_stride_in_the_first_1x1():
  # Keras Applications' ResNet50 (v1, conv biases): 25,583,592 trainable parameters, i.e.
  # ours plus the 26,560 conv biases (Keras' `ResNet50().count_params()` is 25,636,712
  # with the 53,120 moving statistics).
  v1 = resnet.Model(stride_in_1x1=True, conv_bias=True)
  variables = jax.eval_shape(lambda: v1.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3))))
  assert sum(x.size for x in jax.tree.leaves(variables["params"])) == 25_583_592
  model = resnet.Model(num_classes=5, stage_sizes=(1, 1), width=8, stride_in_1x1=True)
  x = jnp.zeros((2, 32, 32, 3))
  variables = model.init(jax.random.key(0), x)
  assert "bias" not in variables["params"]["stem"]
  _, inter = model.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
  block = inter["intermediates"]["Bottleneck_1"]
  assert block["Conv_0"]["__call__"][0].shape == (2, 4, 4, 16)  # v1: the 1x1 halves it
  assert block["Conv_1"]["__call__"][0].shape == (2, 4, 4, 16)


def test_remat_keeps_the_parameter_tree_and_the_gradients():
  # float64, so that round-off (amplified through the batch norms) cannot hide a difference.
  with jax.enable_x64(True):
    kwargs = dict(num_classes=5, stage_sizes=(1, 2), width=8, conv_matmul_grads=False,
                  dtype=jnp.float64, param_dtype=jnp.float64)
    plain, remat = resnet.Model(**kwargs), resnet.Model(**kwargs, remat=True)
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3), jnp.float64)
    abstract = jax.eval_shape(plain.init, jax.random.key(0), x)
    assert jax.eval_shape(remat.init, jax.random.key(0), x) == abstract
    # Random values everywhere (`init` zeroes the last scale of each block, which would
    # zero most gradients); filled with numpy, as compiling `init` takes seconds.
    rng = np.random.default_rng(0)
    variables = jax.tree.map(lambda a: jnp.asarray(
        rng.uniform(0.5, 1.5, a.shape) if a.ndim == 1 else rng.normal(0, 0.3, a.shape),
        a.dtype), abstract)

    def grad_fn(model):
      def loss(params):
        logits, _ = model.apply({**variables, "params": params}, x, train=True,
                                mutable=["batch_stats"])
        return jnp.sum(logits * jnp.arange(logits.size).reshape(logits.shape))
      return jax.grad(loss)

    params = variables["params"]
    remats = lambda m: sum(e.primitive.name.startswith("remat")
                           for e in jax.make_jaxpr(grad_fn(m))(params).eqns)
    assert remats(remat) == 3 and remats(plain) == 0  # one per bottleneck
    want, got = jax.jit(grad_fn(plain))(params), jax.jit(grad_fn(remat))(params)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(got)):
      assert a.dtype == jnp.float64 and float(jnp.max(jnp.abs(a))) > 0
      np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12 * float(jnp.max(jnp.abs(a))))
