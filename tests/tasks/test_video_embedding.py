"""Video2Vec's losses, zero-shot class splits and retrieval queries."""
import jax.numpy as jnp
import numpy as np
import pytest

from zoo.data import video_features, word_vectors
from zoo.evaluators import retrieval
from zoo.tasks.video_embedding import cosine_similarities, hinge_rank_loss


def test_hinge_rank_loss_by_hand():
  sims = jnp.array([[0.9, 0.5, 0.6, 0.0],
                    [0.1, 0.2, 0.3, 0.8]])
  labels = jnp.array([0, 3])
  mask = jnp.array([1.0, 1.0, 1.0, 0.0])  # class 3 is unseen: never a competitor
  # clip 0: max(0, .55-.9+.5)=.15, max(0, .55-.9+.6)=.25 -> .40
  # clip 1 (label 3): .55-.8+.1=-.15->0, .55-.8+.2=-.05->0, .55-.8+.3=.05 -> .05
  np.testing.assert_allclose(hinge_rank_loss(sims, labels, 0.55, mask), [0.40, 0.05],
                             atol=1e-6)
  np.testing.assert_allclose(hinge_rank_loss(sims, labels, 0.0, mask), [0.0, 0.0], atol=1e-6)


def test_cosine_similarities_ignore_scale():
  e = jnp.array([[3.0, 0.0], [1.0, 1.0]])
  v = jnp.array([[2.0, 0.0], [0.0, 5.0]])
  np.testing.assert_allclose(cosine_similarities(e, v),
                             [[1.0, 0.0], [2 ** -0.5, 2 ** -0.5]], atol=1e-6)


def test_zero_shot_class_splits_are_disjoint_seeded_and_differ_by_seed():
  seen, unseen = video_features.class_split(101, 50, seed=3)
  assert len(seen) == 51 and len(unseen) == 50 and not set(seen) & set(unseen)
  assert set(seen) | set(unseen) == set(range(101))
  assert video_features.class_split(101, 50, seed=3) == (seen, unseen)
  assert video_features.class_split(101, 50, seed=4)[1] != unseen
  with pytest.raises(ValueError, match="zsl_unseen=101"):
    video_features.class_split(101, 101, seed=0)


def test_every_real_ucf101_class_has_a_word_vector():
  names = [w.split() for w in UCF101_CLASS_WORDS.split(",")]
  vectors = word_vectors.class_vectors(word_vectors.load(), names)
  assert vectors.shape == (101, 50) and np.all(np.isfinite(vectors))
  with pytest.raises(ValueError, match="zzqx"):
    word_vectors.class_vectors(word_vectors.load(), [["ball"], ["zzqx", "box"]])


def test_word_vectors_from_a_text_file(tmp_path):
  path = tmp_path / "vectors.txt"
  path.write_text("2 3\nball 1 0 0\nbox 0 1 0\n")  # word2vec header, then GloVe lines
  vectors = word_vectors.load(str(path))
  np.testing.assert_allclose(vectors.phrase(["ball", "box"]), [0.5, 0.5, 0])
  path.write_text("ball 1 0 0\nbox 0 1\n")
  with pytest.raises(ValueError, match="line 2"):
    word_vectors.load.__wrapped__(str(path))


def test_retrieval_refuses_class_name_words_and_counts_like_the_paper():
  classes = [["ball", "rolling"], ["box", "falling"]]
  retrieval.check_queries(["sphere", "drop"], classes)
  with pytest.raises(ValueError, match="rolling"):
    retrieval.check_queries(["sphere", "rolling"], classes)
  assert set(retrieval.PAPER_QUERIES) == set(retrieval.PAPER_TABLE)
  names = ["Playing Cello", "Playing Piano"]
  assert retrieval.class_counts([1, 0, 0, 0, 0, 0, 0, 0, 0, 0], names) == \
      "Playing Cello (9), Playing Piano (1)"


UCF101_CLASS_WORDS = (
    "apply eye makeup,apply lipstick,archery,baby crawling,balance beam,band marching,"
    "baseball pitch,basketball,basketball dunk,bench press,biking,billiards,blow dry hair,"
    "blowing candles,body weight squats,bowling,boxing punching bag,boxing speed bag,"
    "breast stroke,brushing teeth,clean and jerk,cliff diving,cricket bowling,cricket shot,"
    "cutting in kitchen,diving,drumming,fencing,field hockey penalty,floor gymnastics,"
    "frisbee catch,front crawl,golf swing,haircut,hammering,hammer throw,handstand pushups,"
    "handstand walking,head massage,high jump,horse race,horse riding,hula hoop,ice dancing,"
    "javelin throw,juggling balls,jumping jack,jump rope,kayaking,knitting,long jump,lunges,"
    "military parade,mixing,mopping floor,nunchucks,parallel bars,pizza tossing,"
    "playing cello,playing daf,playing dhol,playing flute,playing guitar,playing piano,"
    "playing sitar,playing tabla,playing violin,pole vault,pommel horse,pull ups,punch,"
    "push ups,rafting,rock climbing indoor,rope climbing,rowing,salsa spin,shaving beard,"
    "shotput,skate boarding,skiing,skijet,sky diving,soccer juggling,soccer penalty,"
    "still rings,sumo wrestling,surfing,swing,table tennis shot,tai chi,tennis swing,"
    "throw discus,trampoline jumping,typing,uneven bars,volleyball spiking,"
    "walking with dog,wall pushups,writing on board,yo yo")
