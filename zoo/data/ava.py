"""AVA (Murray, Marchesotti and Perronnin, CVPR 2012) read from its distributed files, and the
image pairs of Gattupalli, Chandakkar and Li, "A Computational Approach to Relative
Aesthetics" (ICPR 2016).

`--config.data.dir=DIR` holds AVA as distributed:
  AVA.txt        one image per line: index, image id, the counts of votes for scores 1..10,
                 semantic tag 1, semantic tag 2 (0: none), challenge id
  challenges.txt `ID NAME` per line (names for tables and pictures; optional)
  tags.txt       `ID NAME` per line (optional)
  images/ID.jpg
  aesthetics_image_lists/generic_test.jpgl   AVA's standard test images, one id per line
Per image: the mean rating and the variance of its votes. A malformed AVA.txt line is
named by its line number and skipped, up to `data.max_bad_fraction` of the lines.

Splits. The standard test images are one set; the others are split at random (seed
`data.seed`) into train / validation / custom test images (`data.validation_fraction`,
`data.test_fraction`). Pairs are built inside each set only, so no image is in both a
training and a test pair. Split names say what a record is:
  `SET_images`: one image, its mean rating, its binary label (mean >= `data.label_threshold`,
     AVA's usual 5). train/validation/standard_test: every image of the set;
     test: the images of the custom test pairs (the custom set as binary labels).
  `SET_pairs`: two images and y = +1 if the first is the better (higher mean) else -1.
Pair rules (the paper's, each a config value): both images' vote variance at most
`data.max_vote_variance` (2.6), mean ratings at least `data.min_rating_gap` (1.0) apart,
both from the same category (`data.pair_category`: 'challenge' or 'tag', the first
semantic tag). Every eligible image is paired with `data.pairs_per_image` partners drawn
at random among the eligible images of its category (duplicates removed); which image
comes first is random, so y is balanced. Everything is a function of the files and the
config, so the config stored with the run (config.json) fixes the pairs; the ranking
evaluator also writes the pair lists into the run's workdir.

Each image gives two views (`preprocess`): 'image', the whole image resized to
`data.image_size` (the global column: layout), and 'local', a `data.local_size` crop at
native resolution (random in training, central in evaluation; the local column:
sharpness, grain). A missing or undecodable image makes its record bad: it is counted and
named (its path) by `bad_records.GuardedSource`, and the pairs that use it are dropped
(replaced by the next good pair in training, left out in evaluation).
"""
import dataclasses
import functools
import os

import numpy as np
from absl import logging
from PIL import Image

from zoo.data import image_transforms
from zoo.data.bad_records import BadRecordError, TooManyBadRecordsError

STAND_IN = False  # see stand_in(): a folder written by zoo.data.ava_stand_in is labelled
DESCRIPTION = "AVA (AVA.txt, images/ID.jpg, aesthetics_image_lists/generic_test.jpgl)"
NUM_CLASSES = 2  # low, high (mean rating >= label_threshold)
STAND_IN_MARKER = "STAND_IN.json"  # written by zoo.data.ava_stand_in into its folders
SETS = ("train", "validation", "test", "standard_test")
CATEGORIES = ("challenge", "tag")
_SPLIT_STREAM = 0xA7A  # keeps the image split's random stream apart from the pairs'
_FIELDS = 15  # index, id, 10 counts, tag1, tag2, challenge


def stand_in(data_config) -> bool:
  """True when `data.dir` holds a stand-in written by `zoo.data.ava_stand_in`."""
  return os.path.exists(os.path.join(data_config.dir, STAND_IN_MARKER))


@dataclasses.dataclass(frozen=True)
class Catalogue:
  """The images AVA.txt lists (good lines only), as arrays in file order."""
  root: str
  ids: np.ndarray         # int64 [N]
  counts: np.ndarray      # int64 [N, 10]: votes for scores 1..10
  tags: np.ndarray        # int64 [N, 2]
  challenges: np.ndarray  # int64 [N]
  standard_test: np.ndarray  # bool [N]: listed in generic_test.jpgl
  challenge_names: dict
  tag_names: dict
  bad_lines: tuple        # "AVA.txt line N: why"

  @property
  def mean(self) -> np.ndarray:
    return self.counts @ np.arange(1, 11) / self.counts.sum(axis=1)

  @property
  def variance(self) -> np.ndarray:
    scores = np.arange(1, 11)
    return (self.counts * (scores - self.mean[:, None]) ** 2).sum(axis=1) / self.counts.sum(1)

  def path(self, i: int) -> str:
    return os.path.join(self.root, "images", f"{self.ids[i]}.jpg")


def _read_names(path: str) -> dict:
  """`ID NAME` lines -> {id: name}; a missing file is no names."""
  names = {}
  if os.path.exists(path):
    with open(path, encoding="utf-8", errors="replace") as f:
      for line in f:
        key, _, name = line.strip().partition(" ")
        if key.isdigit():
          names[int(key)] = name.strip()
  return names


def _parse_line(fields):
  """The 15 integers of an AVA.txt line, or why they are not."""
  if len(fields) != _FIELDS:
    raise ValueError(f"{len(fields)} fields, expected {_FIELDS} (index, image id, 10 vote "
                     "counts, tag 1, tag 2, challenge id)")
  try:
    values = [int(v) for v in fields]
  except ValueError:
    raise ValueError(f"not all fields are integers: {' '.join(fields)}") from None
  counts = values[2:12]
  if min(counts) < 0:
    raise ValueError("a negative vote count")
  if sum(counts) == 0:
    raise ValueError("no votes")
  return values


@functools.lru_cache(maxsize=4)
def catalogue(root: str, max_bad_fraction: float) -> Catalogue:
  """Reads AVA.txt, the standard test list and the names; bad lines logged and skipped."""
  ava_txt = os.path.join(root, "AVA.txt")
  if not os.path.isfile(ava_txt):
    raise FileNotFoundError(f"--config.data.dir='{root}' has no AVA.txt (expected AVA as "
                            "distributed: AVA.txt, images/ID.jpg, aesthetics_image_lists/)")
  rows, bad, seen, lines = [], [], set(), 0
  with open(ava_txt, encoding="utf-8", errors="replace") as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      lines += 1
      try:
        values = _parse_line(line.split())
        if values[1] in seen:
          raise ValueError(f"image id {values[1]} listed twice")
      except ValueError as e:
        bad.append(f"{ava_txt} line {number}: {e}")
        if len(bad) <= 20:
          logging.warning("malformed line skipped: %s", bad[-1])
        continue
      seen.add(values[1])
      rows.append(values)
  if bad and len(bad) > max_bad_fraction * lines:
    raise TooManyBadRecordsError(
        f"{len(bad)} malformed lines of {lines} in {ava_txt} exceed "
        f"--config.data.max_bad_fraction={max_bad_fraction}; first: {bad[0]}")
  if not rows:
    raise ValueError(f"{ava_txt} lists no images")
  table = np.asarray(rows, np.int64)
  test_list = os.path.join(root, "aesthetics_image_lists", "generic_test.jpgl")
  if not os.path.isfile(test_list):
    raise FileNotFoundError(f"--config.data.dir='{root}' has no "
                            "aesthetics_image_lists/generic_test.jpgl (AVA's standard test list)")
  with open(test_list) as f:
    test_ids = {int(t) for t in f.read().split() if t.strip().isdigit()}
  standard = np.isin(table[:, 1], list(test_ids))
  if len(test_ids) > standard.sum():
    logging.warning("%d ids of %s are not in AVA.txt", len(test_ids) - standard.sum(), test_list)
  return Catalogue(root, table[:, 1], table[:, 2:12], table[:, 12:14], table[:, 14], standard,
                   _read_names(os.path.join(root, "challenges.txt")),
                   _read_names(os.path.join(root, "tags.txt")), tuple(bad))


def _rules(data_config) -> tuple:
  """The config values the split and the pairs depend on (a hashable cache key)."""
  c = data_config
  if c.pair_category not in CATEGORIES:
    raise ValueError(f"--config.data.pair_category='{c.pair_category}': expected one of "
                     f"{CATEGORIES}")
  return (c.dir, float(c.max_bad_fraction), int(c.seed), float(c.validation_fraction),
          float(c.test_fraction), float(c.min_rating_gap), float(c.max_vote_variance),
          c.pair_category, int(c.pairs_per_image), float(c.label_threshold))


def build_pairs(mean, variance, category, members, *, min_rating_gap, max_vote_variance,
                pairs_per_image, rng) -> np.ndarray:
  """Pairs [P, 2] of indices among `members` by the paper's rules (module docstring)."""
  members = np.asarray(members)
  eligible = members[variance[members] <= max_vote_variance]
  found = []
  for cat in np.unique(category[eligible]):
    group = eligible[category[eligible] == cat]
    for i in group:
      partners = group[np.abs(mean[group] - mean[i]) >= min_rating_gap]
      if len(partners):
        chosen = rng.choice(partners, size=min(pairs_per_image, len(partners)), replace=False)
        found += [(min(i, j), max(i, j)) for j in chosen]
  if not found:
    return np.zeros((0, 2), np.int64)
  pairs = np.unique(np.asarray(found, np.int64), axis=0)
  pairs = pairs[rng.permutation(len(pairs))]
  swap = rng.random(len(pairs)) < 0.5  # random order: y is +1 or -1 equally often
  pairs[swap] = pairs[swap, ::-1]
  return pairs


def _sets(rules: tuple) -> dict:
  """{set name: indices of its images}: the standard test list and a random split of the
  other images (module docstring)."""
  root, max_bad, seed, val_fraction, test_fraction = rules[:5]
  cat = catalogue(root, max_bad)
  rng = np.random.default_rng([_SPLIT_STREAM, seed])
  generic = rng.permutation(np.flatnonzero(~cat.standard_test))
  n_val, n_test = round(val_fraction * len(generic)), round(test_fraction * len(generic))
  return {"validation": np.sort(generic[:n_val]),
          "test": np.sort(generic[n_val:n_val + n_test]),
          "train": np.sort(generic[n_val + n_test:]),
          "standard_test": np.flatnonzero(cat.standard_test)}


@functools.lru_cache(maxsize=8)
def _index(rules: tuple) -> dict:
  """{split name: indices [N] (images) or [P, 2] (pairs)} of the catalogue."""
  (root, max_bad, seed, _, _, gap, max_variance, category_kind, pairs_per_image, _) = rules
  cat = catalogue(root, max_bad)
  sets = _sets(rules)
  category = cat.challenges if category_kind == "challenge" else cat.tags[:, 0]
  mean, variance = cat.mean, cat.variance
  index = {}
  for k, (name, members) in enumerate(sets.items()):
    index[f"{name}_pairs"] = build_pairs(
        mean, variance, category, members, min_rating_gap=gap,
        max_vote_variance=max_variance, pairs_per_image=pairs_per_image,
        rng=np.random.default_rng([seed, k]))
    index[f"{name}_images"] = members
  # The custom test set as binary labels: the images of its pairs.
  index["test_images"] = np.unique(index["test_pairs"])
  for name, rows in index.items():
    logging.info("AVA %s: %d %s", name, len(rows), name.rpartition("_")[2])
  return index


def empty_reason(data_config, split: str) -> str:
  """Why `split` holds no records: the fraction or the pair rule that left none (for the
  evaluators' checks before training)."""
  c, rules = data_config, _rules(data_config)
  cat = catalogue(c.dir, float(c.max_bad_fraction))
  name, _, kind = split.rpartition("_")
  members = _sets(rules).get(name)
  if members is None:
    return ""
  if not len(members):
    generic = int((~cat.standard_test).sum())
    if name == "standard_test":
      return (f"aesthetics_image_lists/generic_test.jpgl in {c.dir} lists none of the "
              f"{len(cat.ids)} images of AVA.txt")
    if name == "train":
      return (f"--config.data.validation_fraction={c.validation_fraction} and "
              f"test_fraction={c.test_fraction} leave none of the {generic} images outside "
              f"the standard test list for training")
    return (f"--config.data.{name}_fraction={getattr(c, name + '_fraction')} of the {generic} "
            f"images outside the standard test list is none")
  if kind == "images" and name != "test":
    return ""
  eligible = members[cat.variance[members] <= c.max_vote_variance]
  lead = ("its images are those of the custom test pairs, and " if kind == "images" else "")
  if not len(eligible):
    return (f"{lead}none of the {len(members)} images of set '{name}' has a vote variance "
            f"<= --config.data.max_vote_variance={c.max_vote_variance}")
  return (f"{lead}of the {len(members)} images of set '{name}', {len(eligible)} have a vote "
          f"variance <= --config.data.max_vote_variance={c.max_vote_variance}, and no two of "
          f"them of one {c.pair_category} have mean ratings "
          f"--config.data.min_rating_gap={c.min_rating_gap} apart")


def split_index(data_config, split: str) -> np.ndarray:
  index = _index(_rules(data_config))
  if split not in index:
    raise ValueError(f"unknown split '{split}' of AVA; known: {', '.join(sorted(index))}")
  return index[split]


def _decode(path: str) -> np.ndarray:
  """RGB pixels of a JPEG; a missing, truncated or corrupt file is a BadRecordError naming it."""
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"))
  except (OSError, SyntaxError, ValueError) as e:  # PIL: OSError for truncated/corrupt files
    reason = "missing" if isinstance(e, FileNotFoundError) else f"{type(e).__name__}: {e}"
    raise BadRecordError(f"{path}: {reason}") from None


class AvaSource:
  """grain random-access source of the records of one split (module docstring)."""

  def __init__(self, data_config, split: str):
    self.catalogue = catalogue(data_config.dir, float(data_config.max_bad_fraction))
    self.rows = split_index(data_config, split)
    self.pairs = split.endswith("_pairs")
    self.threshold = float(data_config.label_threshold)
    self.mean = self.catalogue.mean.astype(np.float32)

  def __len__(self):
    return len(self.rows)

  def _image(self, i, suffix=""):
    c = self.catalogue
    return {f"image{suffix}": _decode(c.path(i)), f"mean{suffix}": self.mean[i],
            f"id{suffix}": np.int32(c.ids[i])}

  def __getitem__(self, k):
    if not self.pairs:
      i = self.rows[int(k)]
      return {**self._image(i), "label": np.int32(self.mean[i] >= self.threshold),
              "path": self.catalogue.path(i)}
    i, j = self.rows[int(k)]
    return {**self._image(i, "1"), **self._image(j, "2"),
            "label": np.float32(1 if self.mean[i] > self.mean[j] else -1),
            "path": f"{self.catalogue.path(i)} & {self.catalogue.path(j)}"}


def source(data_config, split: str):
  return AvaSource(data_config, split)


def _views(image, data_config, train, rng):
  """(global view, local view) of one image (module docstring)."""
  image = image_transforms.to_rgb(image)
  size, local = data_config.image_size, data_config.local_size
  whole = np.asarray(Image.fromarray(image).resize((size, size), Image.BILINEAR))
  if min(image.shape[:2]) < local:  # small images: scaled up until the crop fits
    image = image_transforms.resize_shorter(image, local)
  crop = (image_transforms.random_crop(image, local, rng) if train
          else image_transforms.center_crop(image, local))
  if train and data_config.random_flip and rng.random() < 0.5:
    whole, crop = whole[:, ::-1], crop[:, ::-1]
  return np.ascontiguousarray(whole), np.ascontiguousarray(crop)


def preprocess(data_config, train: bool):
  """Returns `fn(record, rng)`: images -> {'image', 'local', 'label', 'mean', 'id'};
  pairs -> {'image1', 'local1', 'image2', 'local2', 'label' (+1/-1), 'mean1', 'mean2',
  'id1', 'id2'} (uint8 views, numbers; the path stays behind)."""

  def fn(record, rng):
    out = {k: v for k, v in record.items() if k != "path" and not k.startswith("image")}
    for key in [k for k in record if k.startswith("image")]:
      suffix = key[len("image"):]
      out[f"image{suffix}"], out[f"local{suffix}"] = _views(record[key], data_config, train, rng)
    return out

  return fn


def validate(data_config, record, min_size: int = 8):
  for key in [k for k in record if k.startswith("image")]:
    image = np.asarray(record[key])
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
      raise BadRecordError(f"image of dtype {image.dtype} and shape {image.shape}")
    if min(image.shape[:2]) < min_size:
      raise BadRecordError(f"image of {image.shape[0]}x{image.shape[1]} pixels")


def pair_lists(data_config) -> dict:
  """{split: [(id1, id2, mean1, mean2, y)]} of every pair split, for the run's records."""
  cat = catalogue(data_config.dir, float(data_config.max_bad_fraction))
  mean = cat.mean
  out = {}
  for name, rows in _index(_rules(data_config)).items():
    if name.endswith("_pairs"):
      out[name] = [(int(cat.ids[i]), int(cat.ids[j]), round(float(mean[i]), 4),
                    round(float(mean[j]), 4), 1 if mean[i] > mean[j] else -1) for i, j in rows]
  return out


def category_name(data_config, image_id: int) -> str:
  """The challenge or tag name of an image (for pictures)."""
  cat = catalogue(data_config.dir, float(data_config.max_bad_fraction))
  i = int(np.flatnonzero(cat.ids == image_id)[0])
  if data_config.pair_category == "challenge":
    return cat.challenge_names.get(int(cat.challenges[i]), str(cat.challenges[i]))
  return cat.tag_names.get(int(cat.tags[i, 0]), str(cat.tags[i, 0]))


def summary(data_config) -> str:
  """One line: how many images, pairs and malformed lines."""
  cat = catalogue(data_config.dir, float(data_config.max_bad_fraction))
  index = _index(_rules(data_config))
  return (f"{len(cat.ids)} images ({int(cat.standard_test.sum())} standard test), "
          f"{len(cat.bad_lines)} malformed AVA.txt lines; pairs: "
          + ", ".join(f"{k[:-6]} {len(v)}" for k, v in index.items() if k.endswith("_pairs")))

