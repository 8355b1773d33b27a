"""GAN evaluators: the Fréchet distance against closed forms and scipy, mode coverage on
hand-made samples, and the sample grid, the Fréchet and mixture evaluators on a fake
generator over eight devices."""
import json
import os

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import scipy.linalg
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from PIL import Image

from experiments import _gan
from zoo.data import digits, gaussian_mixture
from zoo.evaluators import frechet, mixture, samples


def test_frechet_distance_of_known_gaussians():
  # 1-D: (mu1 - mu2)^2 + (s1 - s2)^2.
  assert frechet.frechet_distance([0.0], [[1.0]], [1.0], [[4.0]]) == pytest.approx(1 + 1)
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
  s1, s2 = a @ a.T, b @ b.T
  mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
  expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2)
              - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)
  assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
  assert frechet.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0, abs=1e-8)


def test_mode_coverage_of_hand_made_samples():
  centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
  pts = np.concatenate([np.zeros((5, 2)) + 0.05,  # on mode 0
                        np.full((3, 2), [10.0, 0.25]),  # near mode 1 but > 3 std = 0.3? no
                        np.full((2, 2), 5.0)])  # between modes
  counts, good = mixture.coverage(pts, centres, std=0.1)
  assert counts.tolist() == [5, 3, 0] and good.sum() == 8
  counts, good = mixture.coverage(pts, centres, std=0.05)  # 0.25 > 3 std
  assert counts.tolist() == [5, 0, 0] and good.sum() == 5


def test_grid_lays_out_rows_and_columns():
  images = np.stack([np.full((2, 3, 1), i * 20, np.uint8) for i in range(6)])
  picture = samples.grid(images, rows=2, cols=3, scale=2, gap=1)
  assert picture.shape == (2 * 5 + 1, 3 * 7 + 1, 3)
  assert picture[1 + 5, 1 + 2 * 7, 0] == 5 * 20  # row 1, column 2: sample 5


def to_device_fn():
  sharding = NamedSharding(Mesh(np.asarray(jax.devices()), ("data",)), P("data"))
  return lambda batch: jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


@flax.struct.dataclass
class FakeState:
  """What the fake generators read: `step` (for the file names) and a switch."""
  step: jax.Array = 7
  noise_only: bool = flax.struct.field(pytree_node=False, default=False)


def mixture_config(num_eval=400):
  config = _gan.base_config(model=dict(name="gan_mlp"), data=dict(
      name="gaussian_mixture", mixture="ring", num_train=0, num_eval=num_eval), minibatch=8)
  config.gan.update(dict(latent_dim=2, data_key="point"))
  config.eval_batch_size = 64
  return config


def test_mixture_and_frechet_evaluators_on_a_generator_that_drops_half_the_modes(tmp_path):
  assert len(jax.devices()) == 8
  config = mixture_config()
  centres, std = gaussian_mixture.modes(config.data)

  def predict_fn(state, batch):  # modes 0-3 only, at the data's spread
    mode = jnp.floor(jax.scipy.stats.norm.cdf(batch["noise"][:, 0]) * 4).astype(jnp.int32)
    return {"samples": jnp.asarray(centres)[mode] + std * batch["noise"][:, 1:2]}

  args = dict(config=config, predict_fn=predict_fn, to_device=to_device_fn())
  modes = mixture.Evaluator(_eval(type="mixture", num_samples=1000, min_count=20, seed=0),
                            **args).run(FakeState(), str(tmp_path))
  assert modes["modes_covered"] == 4 and modes["num_modes"] == 8
  assert 0.95 < modes["high_quality"] < 0.98  # 3 std of a 2-D Gaussian: 96.6%
  assert Image.open(tmp_path / "mixture_000007.png").size == (500, 500)
  fd = frechet.Evaluator(_eval(type="frechet", split="test", features="raw", seed=0),
                         **args).run(FakeState(), str(tmp_path))
  assert fd["num_samples"] == 200 and fd["fd"] > 10 * fd["fd_floor"] > 0
  with open(tmp_path / "frechet.json") as f:
    assert json.load(f)["features"].startswith("raw")


@pytest.mark.slow  # trains the feature classifier: ~15 s of CPU
def test_frechet_of_real_digits_against_themselves_is_near_the_floor(tmp_path):
  """Digit features from the trained classifier: held-out digits score at the floor, noise
  far above it; the classifier is accurate."""
  config = _gan.base_config(model=dict(name="gan_mlp"), data=dict(name="digits"), minibatch=8)
  config.eval_batch_size = 64
  real = np.stack([r["image"] for r in (digits.source(None, "train")[i] for i in range(250))])
  real = jnp.asarray(real, jnp.float32) / 127.5 - 1

  def predict_fn(state, batch):  # the n-th noise row -> the n-th training digit (or noise)
    index = batch["noise"][:, 0].astype(jnp.int32)
    return {"samples": jnp.where(state.noise_only, batch["noise"][:, 1:65].reshape(-1, 8, 8, 1),
                                 real[index])}

  config.gan.update(dict(latent_dim=65, noise="uniform"))
  evaluator = frechet.Evaluator(
      _eval(type="frechet", split="test", features="classifier", classifier_target="label",
            classifier_steps=200, classifier_batch=64, classifier_examples=0, seed=0),
      config=config, predict_fn=predict_fn, to_device=to_device_fn())
  evaluator.noise[:, 0] = np.arange(250)  # generate training digits, one each

  good = evaluator.run(FakeState(), str(tmp_path))
  bad = evaluator.run(FakeState(noise_only=True), str(tmp_path))
  assert good["classifier_accuracy"] > 0.9
  assert good["fd"] < 3 * good["fd_floor"] and bad["fd"] > 20 * good["fd"]


def _eval(**fields):
  return ml_collections.ConfigDict(fields)


def test_samples_evaluator_writes_one_row_per_class(tmp_path):
  config = _gan.base_config(model=dict(name="gan_mlp"), data=dict(name="digits"), minibatch=8)
  config.gan.update(dict(conditional=True, latent_dim=3))
  config.eval_batch_size = 16

  def predict_fn(state, batch):  # the class's grey level everywhere
    return {"samples": jnp.broadcast_to(batch["label"][:, None, None, None] / 4.5 - 1,
                                        (len(batch["label"]), 8, 8, 1))}

  evaluator = samples.Evaluator(_eval(type="samples", rows=3, cols=4, seed=0, scale=1),
                                config=config, predict_fn=predict_fn,
                                to_device=to_device_fn())
  assert evaluator.run(FakeState(), str(tmp_path)) == {}
  picture = np.asarray(Image.open(tmp_path / "samples_000007.png"))
  assert picture.shape == (10 * 9 + 1, 4 * 9 + 1, 3)
  levels = [picture[1 + 9 * r + 4, 1 + 9 * c + 4, 0] for r in range(10) for c in range(4)]
  assert np.all(np.diff(np.reshape(levels, (10, 4)), axis=0) > 0)  # row r is class r
  assert os.path.exists(tmp_path / "samples.png")
