"""ImageNet (ILSVRC 2012) read through tfds `data_source` from `--config.data.dir`.

The data cannot be downloaded here: prepare it once with
`tfds build imagenet2012 --manual_dir=DIR_WITH_TARS --data_dir=DATA_DIR --file_format=array_record`
and pass `--config.data.dir=DATA_DIR`.
"""
from zoo.data import image_transforms
from zoo.data import tfds_source

TFDS_NAME = "imagenet2012"
NUM_CLASSES = 1000
STAND_IN = False
DESCRIPTION = "ImageNet ILSVRC 2012 (tfds imagenet2012)"


def source(data_config, split: str):
  """A random-access source of {'image': uint8 HWC, 'label': int} records."""
  return tfds_source.open_split(TFDS_NAME, data_config.dir, split)


def class_names(data_config) -> list:
  """The label names of the build in `data.dir` (its `features.json`: WordNet synset IDs)."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  version_dir = tfds_source.find_build(TFDS_NAME, data_config.dir)
  return list(tfds.builder_from_directory(version_dir).info.features["label"].names)


def preprocess(data_config, train: bool):
  return image_transforms.classification_preprocess(data_config, train)


def validate(data_config, record):
  image_transforms.validate_classification(record, NUM_CLASSES)
