"""Random-access tfds datasets (ArrayRecord, no TensorFlow) read from a prepared data dir.

A tfds build lives in `DIR/NAME[/CONFIG]/VERSION/` (`dataset_info.json`, `features.json`
and the shards `NAME-SPLIT.array_record-0000K-of-0000N`). Before tfds is asked, the build
is looked up there, so a missing folder, another dataset or config, the version folder
itself, a build that did not finish or one written as tfrecord (no random access) is
reported as what it is, with what the folder does hold and the flag to change. The build
is then read from that very folder (`tfds.builder_from_directory`): neither tfds' default
folder nor its dataset code's version take part.

`TfdsSplit.locate(i)` names record `i`'s shard file and its index there (a real ImageNet
build has over a thousand shards), and `check()` opens every shard (reading its footer)
and compares its record count with the build's, so damage is found before training.
"""
import bisect
import glob
import json
import os
import re

import numpy as np

_INFO = "dataset_info.json"


def _version_key(folder: str):
  return tuple(int(p) for p in re.findall(r"\d+", os.path.basename(folder)))


def _finished_versions(folder: str) -> list:
  """Subfolders of `folder` holding a finished build (a dataset_info.json), oldest first."""
  found = [os.path.dirname(p) for p in glob.glob(os.path.join(glob.escape(folder), "*", _INFO))]
  return sorted((f for f in found if re.fullmatch(r"\d+\.\d+\.\d+", os.path.basename(f))),
                key=_version_key)


def _builds_under(data_dir: str) -> list:
  """'NAME/VERSION' and 'NAME/CONFIG/VERSION' of every finished build in `data_dir`."""
  found = []
  for depth in ("*/*", "*/*/*"):
    for info in glob.glob(os.path.join(glob.escape(data_dir), depth, _INFO)):
      relative = os.path.relpath(os.path.dirname(info), data_dir)
      if not relative.startswith("downloads"):
        found.append(relative)
  return sorted(found)


def _read_info(version_dir: str) -> dict:
  path = os.path.join(version_dir, _INFO)
  try:
    with open(path) as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise FileNotFoundError(f"{path} is unreadable ({type(e).__name__}: {e}): the build "
                            "is damaged; run `tfds build` again") from None


def _enclosing_data_dir(data_dir: str):
  """(data dir, 'NAME[/CONFIG]/VERSION') when `data_dir` lies inside a build (its
  version or dataset folder), else None."""
  for candidate in [data_dir] + _finished_versions(data_dir) + glob.glob(
      os.path.join(glob.escape(data_dir), "*", "*", _INFO)):
    version_dir = os.path.dirname(candidate) if candidate.endswith(_INFO) else candidate
    if not os.path.isfile(os.path.join(version_dir, _INFO)):
      continue
    info = _read_info(version_dir)
    parts = [info.get("name", "?")] + ([info["configName"]] if info.get("configName") else [])
    parts.append(os.path.basename(version_dir))
    root = version_dir
    for _ in parts:
      root = os.path.dirname(root)
    if os.path.normpath(root) != os.path.normpath(data_dir):
      return root, "/".join(parts)
  return None


def _build_command(name: str, config, data_dir: str) -> str:
  full = f"{name}/{config}" if config else name
  return f"`tfds build {full} --data_dir={data_dir or 'DIR'} --file_format=array_record`"


def find_build(name: str, data_dir: str, config=None, *,
               config_flag: str = "--config.data.tfds_config") -> str:
  """The version folder of the newest finished array_record build of `name[/config]` in
  `data_dir`; anything else is a FileNotFoundError saying what is there instead."""
  full = f"{name}/{config}" if config else name
  if not data_dir:
    raise FileNotFoundError(
        f"--config.data.dir is not set: tfds '{full}' is read from a prepared data dir; "
        f"build it with {_build_command(name, config, '')} and pass --config.data.dir=DIR "
        "(or run a ':synthetic' variant on stand-in data)")
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(f"--config.data.dir='{data_dir}' does not exist")
  name_dir = os.path.join(data_dir, name)
  if not os.path.isdir(name_dir):
    inside = _enclosing_data_dir(data_dir)
    if inside:
      raise FileNotFoundError(
          f"--config.data.dir='{data_dir}' is a folder inside the tfds build {inside[1]}; "
          f"pass the data dir that holds it: --config.data.dir='{inside[0]}'")
    builds = _builds_under(data_dir)
    holds = f"it holds {', '.join(builds)}" if builds else "it holds no tfds build"
    raise FileNotFoundError(
        f"--config.data.dir='{data_dir}' has no tfds '{name}' ({holds}): point "
        f"--config.data.dir at the data dir that holds {name}/, or build it with "
        f"{_build_command(name, config, data_dir)}")
  folder = name_dir
  if config:
    folder = os.path.join(name_dir, config)
    if not _finished_versions(folder):
      configs = sorted(c for c in os.listdir(name_dir)
                       if _finished_versions(os.path.join(name_dir, c)))
      if configs:
        raise FileNotFoundError(
            f"--config.data.dir='{data_dir}' holds tfds '{name}' config(s) "
            f"{', '.join(configs)}, not '{config}': pass {config_flag}={configs[0]}, or build "
            f"'{config}' with {_build_command(name, config, data_dir)}")
  versions = _finished_versions(folder)
  if not versions:
    present = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    raise FileNotFoundError(
        f"{folder} holds no finished tfds build (no VERSION/{_INFO}; it holds: "
        f"{', '.join(present) or 'nothing'}): run {_build_command(name, config, data_dir)} "
        "again")
  version_dir = versions[-1]
  info = _read_info(version_dir)
  formats = [info.get("fileFormat", "tfrecord")] + list(info.get("alternativeFileFormats", []))
  if "array_record" not in formats:
    raise FileNotFoundError(
        f"{version_dir} was built as {formats[0]}, which cannot be read by index; rebuild "
        f"it with {_build_command(name, config, data_dir)} (or convert it: `tfds "
        f"convert_format --dataset_version_dir={version_dir} --out_file_format=array_record`)")
  return version_dir


class TfdsSplit:
  """A random-access split of a tfds build, with `locate(index)` (shard file and index in
  it), `check()` (every shard readable, as long as the build says) and `labels()`."""

  def __init__(self, version_dir: str, split: str, tfds_name: str):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    info = _read_info(version_dir)
    names = [s["name"] for s in info.get("splits", [])]
    if re.split(r"[\[+]", split)[0] not in names:
      raise ValueError(f"tfds '{tfds_name}' ({version_dir}) has no split '{split}'; its "
                       f"splits: {', '.join(names)}")
    self.version_dir, self.split, self.tfds_name = version_dir, split, tfds_name
    try:
      self.builder = tfds.builder_from_directory(version_dir)
      # array_record: the build's format, or one converted to (`tfds convert_format`)
      self.records = self.builder.as_data_source(split=split, file_format="array_record")
      self.files = self.builder.info.splits[split].file_instructions
    except Exception as e:  # tfds raises many kinds; one line with the folder is what helps
      lines = str(e).strip().splitlines()
      raise ValueError(f"cannot read split '{split}' of {version_dir}: {type(e).__name__}: "
                       f"{lines[0].rstrip('.') if lines else ''}") from None
    self._starts = np.cumsum([0] + [f.take for f in self.files]).tolist()

  def __len__(self):
    return len(self.records)

  def __getitem__(self, index):
    return self.records[index]

  def __repr__(self):
    return f"TfdsSplit({self.version_dir}, {self.split})"

  def locate(self, index: int) -> str:
    """'SHARD_FILE record K' of the split's record `index`."""
    k = bisect.bisect_right(self._starts, int(index)) - 1
    f = self.files[k]
    return f"{f.filename} record {f.skip + int(index) - self._starts[k]}"

  def check(self):
    """Opens every shard of the split (ArrayRecord reads the footer and index) and
    compares its record count with the build's; the first damaged file is an error."""
    from array_record.python import array_record_module  # pylint: disable=g-import-not-at-top
    for f in self.files:
      path = os.fspath(f.filename)
      try:
        reader = array_record_module.ArrayRecordReader(path)
      except Exception as e:  # a missing file, an unreadable footer
        why = str(e).strip().splitlines()
        raise ValueError(f"split '{self.split}' of tfds '{self.tfds_name}': {path} is "
                         f"unreadable ({type(e).__name__}{': ' + why[0] if why else ''}); "
                         "replace it from a fresh `tfds build`") from None
      count, intact = reader.num_records(), True
      try:
        reader.close()  # a truncated file opens (with what it could read) but fails here
      except Exception:  # pylint: disable=broad-except
        intact = False
      if count != f.examples_in_shard or not intact:
        raise ValueError(f"split '{self.split}' of tfds '{self.tfds_name}': {path} holds "
                         f"{count} readable records where the build wrote "
                         f"{f.examples_in_shard} (a truncated or damaged file); replace it "
                         "from a fresh `tfds build`")

  def labels(self, key: str = "label") -> np.ndarray:
    """Every record's `key`, read without decoding images."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    features = self.builder.info.features
    skip = {k: tfds.decode.SkipDecoding() for k in features if k != key}
    records = self.builder.as_data_source(split=self.split, decoders=skip,
                                          file_format="array_record")
    labels = []
    for start in range(0, len(records), 1024):  # batched reads: one pass over each shard
      keys = range(start, min(start + 1024, len(records)))
      labels += [record[key] for record in records.__getitems__(keys)]
    return np.asarray(labels)


def open_split(tfds_name: str, data_dir: str, split: str, *,
               config_flag: str = "--config.data.tfds_config") -> TfdsSplit:
  """Split `split` of the build of `tfds_name` ('NAME' or 'NAME/CONFIG') in `data_dir`,
  after checking what is there (see `find_build`)."""
  name, _, config = tfds_name.partition("/")
  version_dir = find_build(name, data_dir, config or None, config_flag=config_flag)
  return TfdsSplit(version_dir, split, tfds_name)
