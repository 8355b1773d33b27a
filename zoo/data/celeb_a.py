"""CelebA aligned faces (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015),
tfds `celeb_a`: 202,599 images of 218x178, 40 binary attributes, 10,177 identities;
splits 'train' (162,770), 'validation' (19,867), 'test' (19,962).

It cannot be downloaded here: build it elsewhere with
`tfds build celeb_a --data_dir=DATA_DIR --file_format=array_record` and pass
`--config.data.dir=DATA_DIR`. The embedded stand-in is `zoo.data.faces`.

`preprocess` takes the central `crop_size` square (108, as in the DCGAN code for CelebA)
and resizes it to `image_size`. Records: {'image': uint8 [S, S, 3], 'attributes': int32
[40] (0/1, in the order of ATTRIBUTES, tfds' and the attribute file's)}.
Data config fields: `dir`, `image_size`, `crop_size`, `random_flip`.
"""
import numpy as np
from PIL import Image

from zoo.data import image_transforms
from zoo.data import tfds_source
from zoo.data.bad_records import BadRecordError

TFDS_NAME = "celeb_a"
STAND_IN = False
DESCRIPTION = "CelebA aligned faces (tfds celeb_a)"
ATTRIBUTES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips "
    "Big_Nose Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin "
    "Eyeglasses Goatee Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open "
    "Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose Receding_Hairline "
    "Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


def source(data_config, split: str):
  """Random-access tfds records: {'image', 'attributes': {name: bool}, 'landmarks', ...}."""
  return tfds_source.open_split(TFDS_NAME, data_config.dir, split)


def example_shape(data_config):
  return (data_config.image_size, data_config.image_size, 3)


def center_square(image: np.ndarray, crop: int, size: int) -> np.ndarray:
  """The central crop x crop square, resized to size x size."""
  h, w = image.shape[:2]
  top, left = (h - crop) // 2, (w - crop) // 2
  square = Image.fromarray(image[top:top + crop, left:left + crop])
  return np.asarray(square.resize((size, size), Image.BILINEAR))


def attribute_vector(attributes: dict) -> np.ndarray:
  return np.asarray([bool(attributes[name]) for name in ATTRIBUTES], np.int32)


def preprocess(data_config, train: bool):
  def fn(record, rng):
    image = center_square(image_transforms.to_rgb(np.asarray(record["image"])),
                          data_config.crop_size, data_config.image_size)
    if train and data_config.get("random_flip", False):
      image = image_transforms.random_flip(image, rng)
    return {"image": np.ascontiguousarray(image, np.uint8),
            "attributes": attribute_vector(record["attributes"])}
  return fn


def validate(data_config, record):
  image = np.asarray(record["image"])
  if image.ndim != 3 or image.shape[2] not in (1, 3) or min(image.shape[:2]) < data_config.crop_size:
    raise BadRecordError(f"image of shape {image.shape}: not an RGB face of at least "
                         f"{data_config.crop_size} pixels a side")
  missing = [name for name in ATTRIBUTES if name not in record.get("attributes", {})]
  if missing:
    raise BadRecordError(f"attributes missing: {', '.join(missing[:5])}")
