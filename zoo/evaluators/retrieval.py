"""Semantic retrieval with query words never seen in training (Video2Vec, Li, Hu and Li,
ICPR 2016): the 10 training clips nearest to a query word's vector in the embedding
space, written as the paper's table - the query, then the classes of the ten clips with
counts, e.g. `Orchestra | Playing Cello (9), Playing Piano (1)`.

Built from an entry of `config.evals` (`type='retrieval'`, `split`, `queries` (empty: the
paper's), `top_k`,
optional `intents`: 'QUERY=WORD' pairs; a retrieved clip is relevant when its class name
holds WORD, giving precision@k for the stand-in, whose queries have a known intended
object or motion). A query that is a word of a class name is not a test of unseen words
and is refused. On real UCF101 the paper's result for each query is printed beside ours.
Writes `retrieval.md` into the workdir.
"""
import collections
import os

import jax
import numpy as np
from absl import logging

from zoo.data import pipeline, ucf101, word_vectors
from zoo.evaluators import check_split, collect_over_split

# Query lists are the paper's (Li, Hu, Li 2016) with, for real UCF101, its table.
PAPER_QUERIES = (
    "NBA", "Orchestra", "Army", "Music", "Computer", "Park", "Summit", "School", "Water",
    "FIFA", "Club", "Nature", "Beethoven", "Classical", "Yankees", "Duel", "Lifting",
    "Martial", "Tumbling", "Extreme", "Tide", "India", "Celebrate", "Home-run", "Boat", "Toy",
    "Snow", "Acrobatics", "Ocean", "Hurl", "Hiking", "Swim", "Jogging", "Foam", "Hip-hop",
    "Scramble", "Mat", "Parachuting", "Hunting")
PAPER_TABLE = {  # REFERENCES.md: query -> classes of the paper's top-10 training clips
    "NBA": "Basketball Dunk (10)", "Orchestra": "Playing Cello (9), Playing Piano (1)",
    "Army": "Military Parade (10)", "Music": "Playing Sitar (9), Playing Piano (1)",
    "Computer": "Typing (10)", "Park": "Biking (9), Golf Swing (1)",
    "Summit": "Cliff Diving (7), Skiing (2), Rope Climbing (1)",
    "School": "Skate Boarding (10)", "Water": "Kayaking (10)",
    "FIFA": "Soccer Penalty (8), Soccer Juggling (2)",
    "Club": "Golf Swing (8), Soccer Juggling (2)",
    "Nature": "Tai Chi (7), Hammering (2), Walking with Dog (1)",
    "Beethoven": "Playing Cello (8), Playing Violin (2)",
    "Classical": "Playing Cello (7), Playing Violin (3)", "Yankees": "Baseball Pitch (10)",
    "Duel": "Boxing Punching Bag (8), Punch (2)",
    "Lifting": "Body Weight Squats (4), Rope Climbing (4), Pull Ups (2)",
    "Martial": "Fencing (3), Archery (3), Boxing Punching Bag (3), Balance Beam (1)",
    "Tumbling": "Trampoline Jumping (8), Throw Discus (1), Frisbee Catch (1)",
    "Extreme": "Rock Climbing Indoor (5), Uneven Bars (2), Soccer Juggling (2), Pole Vault (1)",
    "Tide": "Cliff Diving (4), Surfing (2), Throw Discus (2), Sky Diving (1), Rafting (1)",
    "India": "Playing Tabla (4), Playing Sitar (2), Head Massage (1), Cricket Shot (1), "
             "Mixing (1)",
    "Celebrate": "Military Parade (6), Long Jump (1), Band Marching (1), Ice Dancing (1), "
                 "Blowing Candles (1)",
    "Home-run": "Baseball Pitch (5), Basketball Dunk (3), Field Hockey Penalty (1), "
                "Frisbee Catch (1)",
    "Boat": "Kayaking (4), Rafting (2), Rowing (2), Cliff Diving (1), Push Ups (1)",
    "Toy": "Yo Yo (4), Nunchucks (4), Pull Ups (1), Juggling Balls (1)",
    "Snow": "Skiing (2), Ice Dancing (2), Cricket Bowling (1), Pole Vault (1), "
            "Blowing Candles (1), Blow Dry Hair (1), Rafting (1), Sky Diving (1)",
    "Acrobatics": "Juggling Balls (5), Soccer Juggling (5)",
    "Ocean": "Cliff Diving (4), Sky Diving (3), Kayaking (2), Rafting (1)",
    "Hurl": "Throw Discus (2), Mopping Floor (2), Baby Crawling (1), Javelin Throw (1), "
            "Cricket Shot (1), Blowing Candles (1), Pull Ups (1)",
    "Hiking": "Biking (5), Kayaking (4), Rafting (1)",
    "Swim": "Diving (5), Kayaking (3), Cricket Bowling (1), Sky Diving (1)",
    "Jogging": "Biking (5), Skate Boarding (2), Soccer Juggling (1), Skiing (1), "
               "Ice Dancing (1)",
    "Foam": "Blowing Candles (7), Pull Ups (1), Rope Climbing (1), Juggling Balls (1)",
    "Hip-hop": "Trampoline Jumping (6), Swing (4)",
    "Scramble": "Pull Ups (6), Trampoline Jumping (2), Rope Climbing (1), Cricket Shot (1)",
    "Mat": "Rope Climbing (4), Pommel Horse (3), Trampoline Jumping (2), Javelin Throw (1)",
    "Parachuting": "Diving (6), Cricket Bowling (2), Hand Stand Walking (1), Sky Diving (1)",
    "Hunting": "Horse Riding (3), Kayaking (3), Nunchucks (3), Frisbee Catch (1)",
}


def display_name(words) -> str:
  return " ".join(w.capitalize() for w in words)


def check_queries(queries, class_words):
  """Refuses queries that are words of a class name (they would not be unseen words)."""
  used = {w.lower() for words in class_words for w in words}
  bad = [q for q in queries if q.lower() in used or set(q.lower().split("-")) & used]
  if bad:
    raise ValueError(f"retrieval queries {', '.join(bad)} are words of class names; "
                     "queries must be words no class is named by")


def class_counts(labels, names) -> str:
  """'Name (count), ...' most frequent first, ties in order of first appearance."""
  counts = collections.Counter(labels)
  order = sorted(counts, key=lambda c: (-counts[c], list(labels).index(c)))
  return ", ".join(f"{names[c]} ({counts[c]})" for c in order)


class Evaluator:

  def __init__(self, eval_config, *, config, predict_fn, to_device,
               process_index=0, process_count=1, name="NAME"):
    self.eval_config, self.config, self.to_device = eval_config, config, to_device
    self.name = name
    self.process_index, self.process_count = process_index, process_count
    self.source = pipeline.open_source(config.data, eval_config.split, train=False)
    manifest = ucf101.read_manifest(config.data.dir)
    self.class_words = manifest["class_words"]
    self.names = [display_name(w) for w in self.class_words]
    self.stand_in = bool(manifest.get("stand_in"))
    queries = tuple(eval_config.queries) or PAPER_QUERIES
    check_queries(queries, self.class_words)
    vectors = word_vectors.load(config.word_vectors)
    self.queries = [q for q in queries if q.lower() in vectors]
    missing = sorted(set(queries) - set(self.queries))
    if missing:
      logging.warning("retrieval: no word vector for %s; left out", ", ".join(missing))
    self.query_vectors = np.stack([vectors.vector(q) for q in self.queries])
    self.query_vectors /= np.linalg.norm(self.query_vectors, axis=1, keepdims=True)
    self.intents = dict(i.split("=", 1) for i in eval_config.get("intents", ()))
    self._embed = jax.jit(lambda state, batch: {"embedding": predict_fn(state, batch)["embedding"],
                                                "label": batch["label"]})

  def check(self):
    """Before training: the split's files are readable and it holds clips."""
    check_split(f"evals.{self.name}", self.config.data, self.eval_config.split, self.source)

  def _embeddings(self, state):
    """Unit embeddings and labels of every training clip, all processes' rows."""
    out, _ = collect_over_split(self, state, self._embed)
    return out["embedding"], out["label"]

  def run(self, state, workdir=None) -> dict:
    embeddings, labels = self._embeddings(state)
    k = self.eval_config.top_k
    top = np.argsort(-(self.query_vectors @ embeddings.T), axis=1)[:, :k]
    paper = not self.stand_in and set(self.queries) <= set(PAPER_TABLE)
    header = f"| query | classes of the top-{k} training clips |" + (
        " paper (Li, Hu, Li 2016) |" if paper else "") + (
        f" precision@{k} |" if self.intents else "")
    lines = [header, "|" + "---|" * header.count(" |")]
    precisions = []
    for query, rows in zip(self.queries, top):
      retrieved = [int(labels[r]) for r in rows]
      line = f"| {query} | {class_counts(retrieved, self.names)} |"
      if paper:
        line += f" {PAPER_TABLE[query]} |"
      if query in self.intents:
        word = self.intents[query].lower()
        precision = np.mean([word in self.class_words[c] for c in retrieved])
        precisions.append(precision)
        line += f" {precision:.1f} |"
      elif self.intents:
        line += " |"
      lines.append(line)
    table = "\n".join(lines) + "\n"
    results = {"num_queries": len(self.queries), "num_clips": len(labels), "table": table}
    if precisions:
      results[f"precision_at_{k}"] = float(np.mean(precisions))
    if workdir is not None and self.process_index == 0:
      with open(os.path.join(workdir, "retrieval.md"), "w") as f:
        f.write(f"# Semantic retrieval: top-{k} training clips per query word\n\n{table}")
    return results
