"""The one pixel conversion each way between pictures and VAE tensors."""

import numpy as np
import torch
from PIL import Image

from modules.images.pixels import to_model_pixels, to_pil_images


def test_round_trip_is_exact_for_every_level():
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    picture = np.stack([levels, levels.T, 255 - levels], axis=-1)
    tensor = to_model_pixels([picture, Image.fromarray(picture)])
    assert tensor.shape == (2, 3, 16, 16) and tensor.dtype == torch.float32
    assert float(tensor.min()) == -1.0 and float(tensor.max()) == 1.0
    back = to_pil_images(tensor)
    assert all(np.array_equal(np.asarray(image), picture) for image in back)


def test_out_of_range_values_are_clamped():
    (image,) = to_pil_images(torch.tensor([[[[-3.0]], [[0.0]], [[2.5]]]]))
    assert np.asarray(image).tolist() == [[[0, 128, 255]]]
