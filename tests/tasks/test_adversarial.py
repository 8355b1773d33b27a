"""The adversarial task: k discriminator updates per generator update (the state's counters
and each optimizer's own step count), the losses against hand-computed values, the
saturating generator loss's vanishing gradient when D rejects the samples (Goodfellow et
al. 2014, section 3), WGAN-GP's penalty, EMA, and the DCGAN networks' shapes."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import _gan
from zoo.data import faces, gaussian_mixture, pipeline
from zoo.models import dcgan
from zoo.tasks import adversarial, gan_losses, optimizers


def mixture_config(**gan):
  config = _gan.base_config(
      model=dict(name="gan_mlp", g_hidden=(16,), d_hidden=(16,), d_activation="maxout",
                 maxout_pieces=3, output="linear"),
      data=dict(name="gaussian_mixture", mixture="ring", num_train=64, num_eval=16),
      minibatch=8)
  config.gan.update(dict(latent_dim=4, data_key="point", **gan))
  config.batch_size = 8 * config.gan.d_steps
  return config


def task_and_batch(config, seed=0):
  task = adversarial.Task(config, data=gaussian_mixture, steps_per_epoch=8, total_steps=10)
  source = pipeline.open_source(config.data, "train")
  records = [source[i] for i in range(seed, seed + config.batch_size)]
  batch = {k: jnp.stack([r[k] for r in records]) for k in records[0]}
  return task, batch


def test_each_iteration_runs_exactly_k_discriminator_updates_and_one_generator_update():
  k = 3
  config = mixture_config(d_steps=k)
  task, batch = task_and_batch(config)
  step = jax.jit(task.train_step)
  state = task.init(jax.random.key(0))
  for i in range(1, 3):
    before = state.params
    state, metrics = step(state, batch, jax.random.key(i))
    assert (int(state.step), int(state.g_updates), int(state.d_updates)) == (i, i, k * i)
    assert all(np.isfinite(float(v)) for v in metrics.values())
    for name in adversarial.NETWORKS:  # both networks moved
      moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), before[name],
                           state.params[name])
      assert max(jax.tree.leaves(moved)) > 0
  # Each optimizer's own count agrees: Adam stepped k times per iteration for D, once for G.
  adam_count = lambda s: int(next(x for x in jax.tree.leaves(s) if x.dtype == jnp.int32))
  assert adam_count(state.opt_state["discriminator"]) == 2 * k
  assert adam_count(state.opt_state["generator"]) == 2


def test_the_k_minibatches_are_interleaved_rows_of_the_batch():
  task, _ = task_and_batch(mixture_config(d_steps=3))
  batch = {"point": jnp.arange(24, dtype=jnp.float32)[:, None].repeat(2, 1)}
  minibatches, _ = task._minibatches(batch)
  assert minibatches.shape == (3, 8, 2)
  np.testing.assert_array_equal(minibatches[1, :, 0], np.arange(1, 24, 3))


def test_losses_at_hand_computed_points():
  real, fake = jnp.array([0.0, 2.0]), jnp.array([0.0, -1.0])
  softplus = lambda x: np.log1p(np.exp(x))
  d_logistic = np.mean(softplus(-np.array([0.0, 2.0]))) + np.mean(softplus(np.array([0.0, -1.0])))
  for name in gan_losses.LOGISTIC:
    assert gan_losses.discriminator_loss(name, real, fake) == pytest.approx(d_logistic, 1e-6)
  assert gan_losses.generator_loss("saturating", fake) == pytest.approx(
      -np.mean(softplus(np.array([0.0, -1.0]))), 1e-6)  # log(1 - D(G(z)))
  assert gan_losses.generator_loss("non_saturating", fake) == pytest.approx(
      np.mean(softplus(np.array([0.0, 1.0]))), 1e-6)  # -log D(G(z))
  assert gan_losses.discriminator_loss("least_squares", real, fake) == pytest.approx(
      0.5 * (1 + 1) / 2 + 0.5 * (0 + 1) / 2)
  assert gan_losses.generator_loss("least_squares", fake) == pytest.approx(0.5 * (1 + 4) / 2)
  assert gan_losses.discriminator_loss("hinge", real, fake) == pytest.approx(
      (1 + 0) / 2 + (1 + 0) / 2)
  assert gan_losses.discriminator_loss("wgan_gp", real, fake) == pytest.approx(-0.5 - 1.0)
  assert gan_losses.generator_loss("hinge", fake) == gan_losses.generator_loss("wgan_gp", fake)
  with pytest.raises(ValueError, match="--config.gan.loss='wgan'"):
    gan_losses.check("wgan")


def test_saturating_generator_gradient_vanishes_when_d_rejects_the_samples():
  # d/dlogit: saturating -sigmoid(l), non-saturating -(1 - sigmoid(l)).
  rejected = jnp.full((4,), -8.0)  # D(G(z)) = 3e-4
  sat = jax.grad(lambda l: gan_losses.generator_loss("saturating", l))(rejected)
  non_sat = jax.grad(lambda l: gan_losses.generator_loss("non_saturating", l))(rejected)
  np.testing.assert_allclose(sat, -jax.nn.sigmoid(-8.0) / 4, rtol=1e-5)
  np.testing.assert_allclose(non_sat, -(1 - jax.nn.sigmoid(-8.0)) / 4, rtol=1e-5)
  assert float(jnp.abs(non_sat).sum() / jnp.abs(sat).sum()) > 1000
  # Both point the same way (raise D(G(z))): the same fixed point.
  assert np.all(np.sign(sat) == np.sign(non_sat))


def test_generator_gradient_through_the_networks_when_d_rejects_the_samples():
  """With D's output bias at -8 (D(G(z)) ~ 3e-4 for every sample) G's gradient under the
  saturating loss is ~3000x smaller than under the non-saturating one."""
  norms = {}
  for name in ("saturating", "non_saturating"):
    config = mixture_config(loss=name)
    config.schedule.base_lr = 0.0  # D stays where it is put
    task, batch = task_and_batch(config)
    state = task.init(jax.random.key(0))
    params = state.params
    last = "Dense_0"  # the output layer (the hidden ones are Maxout_i)
    params["discriminator"][last]["bias"] = jnp.full((1,), -8.0)
    params["discriminator"][last]["kernel"] = params["discriminator"][last]["kernel"] * 0.01
    _, metrics = jax.jit(task.train_step)(state.replace(params=params), batch,
                                          jax.random.key(1))
    norms[name] = float(metrics["g_grad_norm"])
  assert norms["non_saturating"] / norms["saturating"] > 500


def test_gradient_penalty_of_a_linear_critic():
  w = jnp.array([3.0, 4.0])  # ||grad|| = 5 everywhere: penalty (5 - 1)^2
  real, fake = jnp.ones((6, 2)), jnp.zeros((6, 2))
  penalty = gan_losses.gradient_penalty(lambda x: x @ w, real, fake, jax.random.key(0))
  assert float(penalty) == pytest.approx(16.0, rel=1e-5)


@pytest.mark.slow  # compiles 5 critic steps with a double backward pass: the costliest here
def test_wgan_gp_trains_with_five_critic_steps_and_refuses_batch_norm():
  config = mixture_config(loss="wgan_gp", d_steps=5)
  task, batch = task_and_batch(config)
  state, metrics = jax.jit(task.train_step)(task.init(jax.random.key(0)), batch,
                                            jax.random.key(1))
  assert int(state.d_updates) == 5 and float(metrics["gradient_penalty"]) > 0
  config = _gan.base_config(model=dict(name="dcgan", width=4, d_norm="batch", bn_momentum=0.9,
                                       conv_matmul_grads="auto"),
                            data=dict(name="faces", image_size=16), minibatch=8)
  config.gan.loss = "wgan_gp"
  task = adversarial.Task(config, data=faces, steps_per_epoch=1, total_steps=1)
  with pytest.raises(ValueError, match="d_norm=layer or none"):
    task.init(jax.random.key(0))


def test_batch_size_must_hold_k_minibatches():
  config = mixture_config(d_steps=3)
  config.batch_size = 10
  with pytest.raises(ValueError, match="--config.batch_size=10 must be k \\* m"):
    adversarial.Task(config, data=gaussian_mixture, steps_per_epoch=1, total_steps=1)


def test_ema_generator_is_what_predict_uses():
  config = mixture_config(ema_decay=0.5)
  task, batch = task_and_batch(config)
  state = task.init(jax.random.key(0))
  state, _ = jax.jit(task.train_step)(state, batch, jax.random.key(1))
  d = float(optimizers.ema_decay_at(0.5, 0))  # the first update's, warmed up: 0.1
  assert d == pytest.approx(0.1)
  expected = jax.tree.map(lambda a, b: d * a + (1 - d) * b,
                          task.init(jax.random.key(0)).params["generator"],
                          state.params["generator"])
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(state.generator_ema)):
    np.testing.assert_allclose(a, b, rtol=1e-6)
  noise = {"noise": jnp.ones((3, 4))}
  out = task.predict_fn(state, noise)["samples"]
  direct = task.generator.apply({"params": state.generator_ema}, noise["noise"], train=False)
  np.testing.assert_allclose(out, direct, rtol=1e-6)


def test_transposed_convolution_is_the_strided_convolutions_input_gradient():
  layer = dcgan.ConvTranspose2x(8)
  x = jax.random.normal(jax.random.key(0), (2, 4, 4, 5))
  params = layer.init(jax.random.key(1), x)
  kernel = params["params"]["kernel"]
  conv = lambda a: jax.lax.conv_general_dilated(a, kernel, (2, 2), ((1, 1), (1, 1)),
                                                dimension_numbers=("NHWC", "HWIO", "NHWC"))
  expected = jax.vjp(conv, jnp.zeros((2, 8, 8, 8)))[1](x)[0]
  np.testing.assert_allclose(layer.apply(params, x), expected, atol=1e-5)


def test_dcgan_networks_have_the_paper_layout_at_64x64():
  model = ml_collections.ConfigDict(dict(width=64, d_norm="batch", bn_momentum=0.9,
                                         conv_matmul_grads="auto", dtype="float32",
                                         param_dtype="float32"))
  g, d = dcgan.networks(model, output_shape=(64, 64, 3), num_classes=0)
  z = jnp.zeros((2, 100))
  g_vars = jax.eval_shape(lambda: g.init(jax.random.key(0), z, train=True))
  out = jax.eval_shape(lambda v: g.apply(v, z, train=False), g_vars)
  assert out.shape == (2, 64, 64, 3)
  kernels = [x.shape for x in jax.tree.leaves(g_vars["params"]) if len(x.shape) == 4]
  assert [k[2] for k in kernels] == [256, 128, 64, 3]  # after the 4x4x512 projection
  d_vars = jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((2, 64, 64, 3)),
                                         train=True))
  kernels = [x.shape for x in jax.tree.leaves(d_vars["params"]) if len(x.shape) == 4]
  assert [k[-1] for k in kernels] == [64, 128, 256, 512]
  assert len(jax.tree.leaves(d_vars["batch_stats"])) == 2 * 3  # none at the input layer
  assert sum(np.prod(x.shape) for x in jax.tree.leaves(g_vars["params"])) == pytest.approx(3.58e6, rel=0.01)
