"""Random-access tfds datasets (ArrayRecord, no TensorFlow) read from a prepared data dir."""
import tensorflow_datasets as tfds


def open_split(tfds_name: str, data_dir: str, split: str):
  """`tfds.data_source` with downloads off and an error that names the flag and the dir."""
  try:
    return tfds.data_source(tfds_name, split=split, data_dir=data_dir or None, download=False)
  except Exception as e:  # tfds raises AssertionError, FileNotFoundError, ValueError...
    raise FileNotFoundError(
        f"cannot read tfds '{tfds_name}' split '{split}' from --config.data.dir="
        f"'{data_dir}': {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}. "
        f"Prepare it with `tfds build {tfds_name} --data_dir=DIR --file_format=array_record`"
        " (manual download into DIR/downloads/manual).") from None
