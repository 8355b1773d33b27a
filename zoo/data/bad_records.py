"""Bad input records, handled one way for every reader.

`GuardedSource` wraps a random-access source with a `validate(record)` check. A record
that fails to read (corrupt or truncated file, missing file) or to validate (wrong size,
channel count, label out of range) is counted once, reported with where it is (the
source's `locate(index)`: an image file's path, an ArrayRecord shard file and the index
in it; else `name[index]`) and the name the record gives itself, and
replaced by the next good record, so batches keep their shape and the run stays
deterministic; it is never trained on. When more than `max_bad_fraction` of the split
is bad, reading stops with `TooManyBadRecordsError` naming the first offenders.
For evaluation (`substitute=False`) a bad record reads as None instead, so it is left
out of the metrics rather than replaced by a record counted twice.
"""
import threading

from absl import logging

_MAX_EXAMPLES = 20


class BadRecordError(ValueError):
  """Raised by a `validate` function: the record is unusable, and why."""


class TooManyBadRecordsError(ValueError):
  """The share of bad records in a split passed its threshold."""


def where(record, index: int, name: str) -> str:
  """The record's file if it names one, else `name[index]`."""
  if isinstance(record, dict):
    for key in ("path", "file_name", "filename"):
      if key in record:
        value = record[key]
        return value.decode() if isinstance(value, bytes) else str(value)
  return f"{name}[{index}]"


def _place(locate, record, index: int, name: str) -> str:
  """`locate(index)` (where the record is stored), with the record's own name if it
  gives one the location does not already say."""
  place = locate(index) if locate else f"{name}[{index}]"
  own = where(record, index, name) if record is not None else None
  if own and own != f"{name}[{index}]" and own not in place:
    place = f"{place} ({own})"
  return place


class GuardedSource:
  """A random-access source whose bad records are counted, reported and skipped."""

  def __init__(self, source, validate, *, name: str, max_bad_fraction: float,
               locate=None, substitute: bool = True):
    self.source, self.validate, self.name = source, validate, name
    self.substitute = substitute
    self.max_bad_fraction = max_bad_fraction
    self.locate = locate  # index -> where the record is stored (file, shard and index)
    self._lock = threading.Lock()
    self._bad = {}  # index -> "where: why", each bad record once

  def __len__(self):
    return len(self.source)

  def __getitem__(self, index):
    n = len(self.source)
    for offset in range(n):
      j = (int(index) + offset) % n
      record = None
      try:
        record = self.source[j]
        self.validate(record)
        return record
      except Exception as e:  # any failure to read or validate makes the record bad
        place = _place(self.locate, record, j, self.name)
        self._report(j, f"{place}: {type(e).__name__}: {e}")
        if not self.substitute:
          return None
    raise TooManyBadRecordsError(f"every record of {self.name} is bad")

  def _report(self, index, message):
    with self._lock:
      if index in self._bad:
        return
      self._bad[index] = message
      count = len(self._bad)
    if count <= _MAX_EXAMPLES:
      logging.warning("bad record skipped (%d so far in %s): %s", count, self.name, message)
    if count > self.max_bad_fraction * len(self.source):
      raise TooManyBadRecordsError(
          f"{count} bad records in {self.name} ({len(self.source)} records) exceed "
          f"--config.data.max_bad_fraction={self.max_bad_fraction}; first: "
          + "; ".join(self.examples()[:3]))

  def check(self):
    """Raises, naming the file, if the source's files are damaged (sources that can tell:
    a `check()` method, e.g. tfds ArrayRecord shards)."""
    if hasattr(self.source, "check"):
      self.source.check()

  def labels(self):
    """Every record's label, read cheaply (no image decoding), or None where the source
    cannot (no `labels()` method)."""
    return self.source.labels() if hasattr(self.source, "labels") else None

  @property
  def num_bad(self) -> int:
    with self._lock:
      return len(self._bad)

  def examples(self, limit: int = _MAX_EXAMPLES):
    """'where: why' of the first `limit` bad records (None: all)."""
    with self._lock:
      return [self._bad[i] for i in sorted(self._bad)[:limit]]
