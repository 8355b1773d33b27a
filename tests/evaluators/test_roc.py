"""ROC evaluator: AUC against brute force, operating points and kappa on hand-made cases,
and a run on the fundus stand-in over eight devices with a fake grader."""
import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from zoo.data import fundus, pipeline
from zoo.evaluators import roc


def pairwise_auc(scores, positive):
  """P(positive scores above negative) + P(tie) / 2 over every pair, by brute force."""
  pos, neg = scores[positive][:, None], scores[~positive][None, :]
  return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def test_auc_is_the_pairwise_statistic_with_ties():
  rng = np.random.default_rng(0)
  for trial in range(30):
    n = rng.integers(2, 60)
    scores = rng.integers(0, 1 + trial % 8, n).astype(np.float64)  # many ties
    positive = rng.random(n) < rng.uniform(0.1, 0.9)
    positive[:2] = [True, False]
    expected = pairwise_auc(scores, positive)
    assert roc.auc(scores, positive) == pytest.approx(expected, abs=1e-12)
    _, sensitivity, specificity = roc.roc_curve(scores, positive)  # ties: diagonal steps
    assert np.trapezoid(sensitivity, 1 - specificity) == pytest.approx(expected, abs=1e-12)


def test_auc_of_known_cases():
  positive = np.array([True, True, False, False, False])
  assert roc.auc([5, 4, 3, 2, 1], positive) == 1.0
  assert roc.auc([1, 2, 3, 4, 5], positive) == 0.0
  assert roc.auc([7, 7, 7, 7, 7], positive) == 0.5
  assert roc.auc([3, 1, 2, 0, 1], positive) == pytest.approx(4.5 / 6)


def test_roc_curve_runs_from_nothing_called_to_everything_called():
  thresholds, sensitivity, specificity = roc.roc_curve([0.3, 0.3, 0.9, 0.1],
                                                       [True, False, True, False])
  np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.3, 0.1])
  np.testing.assert_array_equal(sensitivity, [0, 0.5, 1, 1])
  np.testing.assert_array_equal(specificity, [1, 1, 0.5, 0])


def test_operating_points_on_a_hand_made_case():
  scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
  positive = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0], bool)  # 4 positives, 6 negatives
  curve = roc.roc_curve(scores, positive)
  assert roc.threshold_for_sensitivity(curve, 0.75) == 0.6  # 3 of 4 positives at >= 0.6
  assert roc.threshold_for_sensitivity(curve, 1.0) == 0.4
  assert roc.threshold_for_specificity(curve, 0.8) == 0.6  # 5 of 6 negatives below 0.6
  assert roc.threshold_for_specificity(curve, 1.0) == 0.8  # the 0.7 negative is below 0.8
  assert roc.sensitivity_specificity(scores, positive, 0.6) == (0.75, 5 / 6)
  # A top-scoring negative: only calling nothing positive is 100% specific.
  top_negative = roc.roc_curve([0.9, 0.5], [False, True])
  assert roc.threshold_for_specificity(top_negative, 1.0) == np.inf


def test_quadratic_kappa_of_known_cases():
  assert roc.quadratic_kappa([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], 5) == pytest.approx(1.0)
  assert roc.quadratic_kappa([0, 0, 1, 1], [0, 1, 1, 1], 2) == pytest.approx(0.5)
  # By hand: sum(W * observed) = 1.25, sum(W * expected) = 1.75 with W = (i - j)^2 / 4.
  assert roc.quadratic_kappa([0, 1, 2, 2], [0, 2, 2, 0], 3) == pytest.approx(2 / 7)


def pairwise_kappa(labels, predictions, num_classes):
  """1 - mean weighted disagreement of the pairs as observed / over all cross pairings."""
  w = lambda a, b: (a - b) ** 2 / (num_classes - 1) ** 2
  observed = np.mean([w(a, b) for a, b in zip(labels, predictions)])
  chance = np.mean([w(a, b) for a in labels for b in predictions])
  return 1 - observed / chance


def test_quadratic_kappa_is_the_brute_force_statistic():
  rng = np.random.default_rng(1)
  for _ in range(20):
    k = int(rng.integers(2, 6))
    labels = rng.integers(0, k, 40)
    predictions = np.where(rng.random(40) < 0.6, labels, rng.integers(0, k, 40))
    assert roc.quadratic_kappa(labels, predictions, k) == pytest.approx(
        pairwise_kappa(labels, predictions, k), abs=1e-12)


def fake_grader(key, batch):
  """Logits with +2 on the true grade plus unit normal noise keyed by the image's pixel sum
  (exact integers, so the host recomputes the same noise)."""
  pixel_sums = batch["image"].astype(jnp.int32).sum(axis=(1, 2, 3))
  noise = jax.vmap(lambda s: jax.random.normal(jax.random.fold_in(key, s), (5,)))(pixel_sums)
  return {"logits": 2.0 * jax.nn.one_hot(batch["label"], 5) + noise}


def fundus_config(**evals):
  config = ml_collections.ConfigDict(dict(
      data=dict(name="fundus", image_size=48, random_flip=False, random_rotation=0.0,
                random_brightness=0.0, num_threads=2, seed=0, num_train=0, num_eval=100,
                max_bad_fraction=0.0),
      eval_batch_size=32))  # 100 = 3 batches of 32 + 4: padded rows must be left out
  eval_config = ml_collections.ConfigDict(dict(
      type="roc", split="test", operating_split="validation", positive_from=2,
      high_sensitivity=0.975, high_specificity=0.98))
  eval_config.update(evals)
  return config, eval_config


def evaluator(config, eval_config, **kwargs):
  sharding = NamedSharding(Mesh(np.asarray(jax.devices()), ("data",)), P("data"))
  to_device = lambda batch: jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)
  return roc.Evaluator(eval_config, config=config, predict_fn=fake_grader, to_device=to_device,
                       **kwargs)


def host_scores(config, split, key):
  """log P(grade >= 2) / P(grade < 2), labels and predicted grades, computed in one batch."""
  batch = next(pipeline.eval_batches(config.data, pipeline.open_source(config.data, split),
                                     local_batch_size=128))
  keep = batch.pop("mask") > 0
  logits = np.asarray(fake_grader(key, batch)["logits"], np.float64)[keep]
  log_odds = (np.log(np.exp(logits[:, 2:]).sum(1)) - np.log(np.exp(logits[:, :2]).sum(1)))
  return log_odds, batch["label"][keep], logits.argmax(1)


def test_roc_evaluator_on_the_fundus_stand_in(tmp_path):
  assert len(jax.devices()) == 8
  config, eval_config = fundus_config()
  key = jax.random.key(0)
  metrics = evaluator(config, eval_config).run(key, str(tmp_path))

  scores, labels, predicted = host_scores(config, "test", key)
  positive = labels >= 2
  assert metrics["num_examples"] == 100 and metrics["bad_records"] == 0
  assert metrics["num_positives"] == int(positive.sum()) == 45  # the stand-in's 45%
  assert metrics["auc"] == pytest.approx(pairwise_auc(scores, positive), abs=1e-9)
  assert 0.85 < metrics["auc"] < 1.0  # a good grader, not a perfect one
  assert metrics["accuracy"] == pytest.approx(np.mean(predicted == labels))
  assert metrics["kappa"] == pytest.approx(roc.quadratic_kappa(labels, predicted, 5))

  val_scores, val_labels, _ = host_scores(config, "validation", key)
  assert metrics["operating_auc"] == pytest.approx(
      pairwise_auc(val_scores, val_labels >= 2), abs=1e-9)
  with open(tmp_path / "roc_test.json") as f:
    summary = json.load(f)
  for name, target in (("high_sensitivity", "operating_sensitivity"),
                       ("high_specificity", "operating_specificity")):
    point = summary["operating_points"][name]
    assert point[target] >= eval_config[name]  # met where it was chosen
    threshold = point["threshold_log_odds"]
    assert metrics[f"{name}/threshold"] == pytest.approx(1 / (1 + np.exp(-threshold)))
    expected = roc.sensitivity_specificity(scores, positive, threshold)
    assert metrics[f"{name}/sensitivity"] == pytest.approx(expected[0])
    assert metrics[f"{name}/specificity"] == pytest.approx(expected[1])
  assert metrics["high_specificity/threshold"] > metrics["high_sensitivity/threshold"]
  curve = summary["curve"]
  assert (curve["sensitivity"][0], curve["specificity"][0]) == (0.0, 1.0)
  assert (curve["sensitivity"][-1], curve["specificity"][-1]) == (1.0, 0.0)
  with open(tmp_path / "roc_test.png", "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_split_without_positives_is_a_clear_error():
  seed = next(s for s in range(200) if all(fundus.grade(s, "test", i) < 2 for i in range(4)))
  config, eval_config = fundus_config(operating_split="test")
  config.data.update(dict(seed=seed, num_eval=4))
  config.eval_batch_size = 8
  with pytest.raises(ValueError, match="split 'test'.* 0 positive and 4 negative"):
    evaluator(config, eval_config).run(jax.random.key(0))


def test_check_finds_a_split_with_one_class_from_the_labels_and_names_the_override(monkeypatch):
  config, eval_config = fundus_config()
  config.data.update(dict(seed=7, num_eval=4))  # validation grades 0,0,0,0; test 2,2,0,2
  config.eval_batch_size = 8
  drawn = []
  monkeypatch.setattr(fundus, "draw", lambda *args, **kwargs: drawn.append(args))
  with pytest.raises(ValueError) as e:
    evaluator(config, eval_config, name="test").check()
  assert str(e.value) == (
      "ROC evaluation 'test' (type='roc', split='test', operating_split='validation', "
      "positive_from=2): split 'validation' of data 'fundus' has 0 positive and 4 negative "
      "examples; a ROC curve needs both: choose --config.evals.test.operating_split=SPLIT (a "
      "split with both), or another --config.evals.test.positive_from")
  assert not drawn  # from the labels alone: no image was drawn
  config.data.seed = 0
  evaluator(config, eval_config, name="test").check()
