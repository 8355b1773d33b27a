"""The attribute-manipulation task (Wang et al., WACV 2018) and its networks: shapes, the
losses against hand-computed values, reference drawing, and one step that moves each
network with its own optimizer state only; the attribute classifier task's loss."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import face_attribute_classifier, face_attributes
from launch import config as config_lib
from zoo.data import faces, pipeline
from zoo.models import attribute_cnn, attribute_gan
from zoo.tasks import attribute_classification, attribute_manipulation as am

SIZE = 8


class RandomClassifier:
  """Stands in for a trained classifier run: the same network, random weights."""

  def __init__(self, path, data_config):
    del path
    self.attributes = faces.ATTRIBUTES
    self.model = attribute_cnn.Model(num_classes=len(faces.ATTRIBUTES), width=4)
    self.params = self.model.init(jax.random.key(5), jnp.zeros((1, SIZE, SIZE, 3)))["params"]
    self.path = "random"

  def logits(self, x):
    return self.model.apply({"params": self.params}, x)

  def features(self, x):
    return self.model.apply({"params": self.params}, x, features=True)[1]


def tiny_config(**manipulation):
  config = face_attributes.get_config("smoke")
  config.data.image_size = SIZE
  config.batch_size = 8
  config.model.update(dict(g_width=4, d_width=4, a_width=4, residual_blocks=1))
  config.manipulation.update(dict(classifier="unused", **manipulation))
  return config


def task_and_batch(monkeypatch, **manipulation):
  monkeypatch.setattr(am, "FrozenClassifier", RandomClassifier)
  config = tiny_config(**manipulation)
  task = am.Task(config, data=faces, steps_per_epoch=4, total_steps=10)
  source = pipeline.open_source(config.data, "train")
  records = [source[i] for i in range(config.batch_size)]
  batch = {k: jnp.stack([r[k] for r in records]) for k in ("image", "attributes")}
  return task, batch


@pytest.mark.slow  # ~40 s of compiling; the smoke runs cover the shapes
def test_network_shapes_and_the_untrained_generator_starts_near_its_source():
  x = jax.random.uniform(jax.random.key(0), (2, 8, 8, 3), minval=-1, maxval=1)
  refs = jax.random.uniform(jax.random.key(1), (2, 3, 8, 8, 3), minval=-1, maxval=1)
  g = attribute_gan.Generator(width=4, residual_blocks=1)
  # One compiled program each: op-by-op dispatch of these networks is slower.
  params = jax.jit(g.init)(jax.random.key(2), x, refs)
  target, mask = jax.jit(lambda p: g.apply(p, x, refs, return_mask=True))(params)
  assert target.shape == x.shape and mask.shape == (2, 8, 8)
  assert 0.05 < float(mask.mean()) < 0.2  # sigmoid(-2) = 0.12: mostly the source
  assert float(jnp.abs(target - x).mean()) < 0.25 * float(jnp.abs(x).mean())
  x = jnp.tile(x, (1, 2, 2, 1))  # 16x16: a 2x2 map
  a = attribute_gan.AttributeDiscriminator(width=4)
  a_params = jax.jit(a.init)(jax.random.key(3), x)
  logit, logit_map = jax.jit(lambda p: a.apply(p, x, return_map=True))(a_params)
  assert logit.shape == (2,) and logit_map.shape == (2, 2, 2)  # S/8
  np.testing.assert_allclose(logit, logit_map.mean((1, 2)), rtol=1e-6)
  cnn = attribute_cnn.Model(num_classes=7, width=4)
  logits, feats = jax.jit(lambda k: cnn.apply(cnn.init(k, x), x, features=True))(
      jax.random.key(4))
  assert logits.shape == (2, 7) and [b.shape for b in feats["blocks"]] == [
      (2, 8, 8, 4), (2, 4, 4, 8)] and feats["pooled"].shape == (2, 8)


def test_losses_against_hand_computed_values():
  sp = lambda v: np.log1p(np.exp(v))
  real, fake = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.3, 2.0, -1.0])
  has, source = jnp.array([1.0, 0.0, 1.0]), jnp.array([0.0, 1.0, 0.0])
  expected = (sp(-1.0) + sp(-0.5)) / 2 + sp(-2.0) + sp(2.0)
  np.testing.assert_allclose(am.attribute_discriminator_loss(real, fake, has, source), expected,
                             rtol=1e-6)
  expected = np.mean(sp(-np.array([1.0, -2.0, 0.5]))) + sp(2.0)
  np.testing.assert_allclose(am.discriminator_loss(real, fake, jnp.ones(3), source), expected,
                             rtol=1e-6)
  assert float(am.masked_mean(jnp.array([3.0, 5.0]), jnp.zeros(2))) == 0.0
  a = {"blocks": [jnp.ones((1, 2, 2, 1)), jnp.zeros((1, 1, 1, 2))]}
  b = {"blocks": [jnp.zeros((1, 2, 2, 1)), jnp.full((1, 1, 1, 2), 3.0)]}
  np.testing.assert_allclose(am.perceptual_distance(a, b, 1), [1.0])
  np.testing.assert_allclose(am.perceptual_distance(a, b, 2), [(1.0 + 9.0) / 2])
  logits, labels = jnp.array([[0.0, 2.0]]), jnp.array([[1, 0]])
  np.testing.assert_allclose(attribute_classification.attribute_loss(logits, labels),
                             (np.log(2) + sp(2.0)) / 2, rtol=1e-6)


def test_references_have_the_attribute_and_sources_lack_it(monkeypatch):
  task, batch = task_and_batch(monkeypatch, num_references=3)
  images, has, source, refs = task._pair(batch, jax.random.key(0))
  wearing = np.asarray(batch["attributes"][:, task.index])  # the configured attribute
  assert 0 < wearing.sum() < len(wearing)  # the batch holds both kinds
  np.testing.assert_array_equal(source, 1 - wearing)
  positives = np.asarray(images)[wearing > 0]
  assert refs.shape == (8, 3, SIZE, SIZE, 3)
  for r in np.asarray(refs).reshape((-1, SIZE, SIZE, 3)):
    assert np.abs(positives - r).reshape(len(positives), -1).max(1).min() == 0


@pytest.mark.slow  # compiles the three networks' step for 8 devices: ~1-3 min; the smoke run trains them
def test_a_step_moves_each_network_with_its_own_optimizer_state(monkeypatch):
  # No generator loss at all: the generator and its optimizer state stay put, the two
  # discriminators move.
  task, batch = task_and_batch(monkeypatch, content_weight=0.0, adversarial_weight=0.0,
                               attribute_weight=0.0)
  state = task.init(jax.random.key(0))
  new, metrics = jax.jit(task.train_step)(state, batch, jax.random.key(1))
  assert int(new.step) == 1 and all(np.isfinite(float(v)) for v in metrics.values())
  state, new = jax.device_get((state, new))  # numpy: eager ops would compile per shape
  moved = lambda a, b: max(float(np.abs(x - y).max()) for x, y in zip(
      jax.tree.leaves(a), jax.tree.leaves(b)))
  assert moved(state.params["generator"], new.params["generator"]) == 0
  assert moved(state.params["discriminator"], new.params["discriminator"]) > 0
  assert moved(state.params["attribute_discriminator"], new.params["attribute_discriminator"]) > 0
  float_leaves = lambda s: [x for x in jax.tree.leaves(s) if x.dtype == jnp.float32]
  assert max(float(np.abs(x).max()) for x in float_leaves(new.opt_state["generator"])) == 0
  for name in ("discriminator", "attribute_discriminator"):
    assert max(float(np.abs(x).max()) for x in float_leaves(new.opt_state[name])) > 0
    # Each optimizer state has the shapes of its own network's parameters.
    shapes = {x.shape for x in jax.tree.leaves(new.params[name])}
    assert {x.shape for x in float_leaves(new.opt_state[name])} <= shapes


def test_bad_attribute_and_missing_classifier_are_one_line_errors(monkeypatch):
  config = tiny_config(attribute="Wings")
  with pytest.raises(ValueError, match="manipulation.attribute='Wings'"):
    am.Task(config, data=faces, steps_per_epoch=4, total_steps=10)
  config = face_attributes.get_config("smoke")
  config.experiment = "face_attributes:smoke"
  with pytest.raises(ValueError, match="train face_attribute_classifier first"):
    am.Task(config, data=faces, steps_per_epoch=4, total_steps=10)
  stage, _ = face_attributes.stages(config, "/runs/face_attributes_smoke")
  assert stage["experiment"] == "face_attribute_classifier:smoke"
  assert stage["workdir"] == "{runs}/face_attribute_classifier_smoke"
  assert face_attribute_classifier.get_config("smoke").task == "attribute_classification"


def test_the_judge_is_a_classifier_trained_apart_from_the_perceptual_network():
  """By default the evaluation's judge is another stage: the classifier experiment with
  another seed (initialisation and data order) and twice the width."""
  for variant in ("", "synthetic", "smoke"):
    config = face_attributes.get_config(variant or None)
    config.experiment = f"face_attributes:{variant}" if variant else "face_attributes"
    classifier, judge = face_attributes.stages(config, "/runs/x")
    assert judge["name"] == "judge" and judge["experiment"] == classifier["experiment"]
    assert config.evals.manipulation.judge == judge["workdir"] != classifier["workdir"]
    assert judge["workdir"] == classifier["workdir"] + "_judge"
    trained = {s["name"]: config_lib.resolve(s["experiment"], s["overrides"])
               for s in (classifier, judge)}
    assert trained["judge"].seed != trained["classifier"].seed
    assert trained["judge"].model.width == 2 * trained["classifier"].model.width
    assert trained["judge"].data == trained["classifier"].data  # the same images
  config.evals.manipulation.judge = ""  # judged by the perceptual network: no judge stage
  assert [s["name"] for s in face_attributes.stages(config, "/runs/x")] == ["classifier"]
