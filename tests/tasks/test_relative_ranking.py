"""The relative-aesthetics task: the hinge, shared weights, the binary switch."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from experiments import _aesthetics
from zoo.tasks import relative_ranking


def test_hinge_loss_by_hand():
  d = jnp.array([2.0, 0.5, -0.3, 0.0, -2.0])
  y = jnp.array([1.0, 1.0, 1.0, -1.0, -1.0])
  # max(0, 1 - y d): 1 - 2 < 0 -> 0; 1 - 0.5; 1 + 0.3; 1 - 0; 1 - 2 < 0 -> 0
  np.testing.assert_allclose(relative_ranking.relative_hinge_loss(d, y, 1.0),
                             [0.0, 0.5, 1.3, 1.0, 0.0], rtol=1e-6)
  np.testing.assert_allclose(relative_ranking.relative_hinge_loss(d, y, 0.25),
                             [0.0, 0.0, 0.55, 0.25, 0.0], rtol=1e-6)


def _config(head):
  config = _aesthetics.base_config(relative=head == "relative")
  _aesthetics.use_stand_in(config, smoke=True)
  return config


def _pairs(rng, n=4, size=40):
  images = lambda: rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
  return {"image1": images(), "local1": images(), "image2": images(), "local2": images(),
          "label": np.where(rng.random(n) < 0.5, 1.0, -1.0).astype(np.float32)}


def test_shared_weights_swapping_the_pair_flips_d():
  task = relative_ranking.Task(_config("relative"), data=None, steps_per_epoch=10,
                               total_steps=10)
  state = jax.jit(task.init)(jax.random.key(0))
  batch = _pairs(np.random.default_rng(0))
  swapped = {"image1": batch["image2"], "local1": batch["local2"], "image2": batch["image1"],
             "local2": batch["local1"], "label": -batch["label"]}
  predict = jax.jit(task.predict_fn)
  out, back = predict(state, batch), predict(state, swapped)
  assert np.all(np.abs(out["d"]) > 0)
  np.testing.assert_allclose(back["d"], -out["d"], rtol=1e-5, atol=1e-6)
  # One set of parameters: d is the difference of the two images' own scores.
  single = predict(state, {"image": batch["image1"], "local": batch["local1"]})["score"]
  np.testing.assert_allclose(out["score1"], single, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out["d"], out["score1"] - out["score2"], rtol=1e-4, atol=1e-5)
  assert set(state.params) == {"global_column", "local_column", "f"}


@pytest.mark.slow
def test_relative_training_learns_a_pair_order():
  config = _config("relative")
  config.schedule.update(dict(name="constant", base_lr=3e-3, warmup_epochs=0.0))
  config.model.dropout_rate = 0.0
  task = relative_ranking.Task(config, data=None, steps_per_epoch=10, total_steps=10)
  state = jax.jit(task.init)(jax.random.key(0))
  rng = np.random.default_rng(1)
  bright = rng.integers(150, 256, (8, 40, 40, 3), dtype=np.uint8)
  dark = rng.integers(0, 100, (8, 40, 40, 3), dtype=np.uint8)
  y = np.where(np.arange(8) % 2 == 0, 1.0, -1.0).astype(np.float32)  # bright is better
  first = np.where(y[:, None, None, None] > 0, bright, dark)
  second = np.where(y[:, None, None, None] > 0, dark, bright)
  batch = {"image1": first, "local1": first, "image2": second, "local2": second, "label": y}
  step = jax.jit(task.train_step)
  losses = []
  for k in range(15):
    state, metrics = step(state, batch, jax.random.key(k))
    losses.append(float(metrics["loss"]))
  assert losses[-1] < 0.5 * losses[0]
  assert float(metrics["accuracy"]) == 1.0
  assert int(state.step) == 15
