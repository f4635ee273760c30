"""Pictures <-> the [-1, 1] tensors VAEs work in: one conversion each way for every caller."""

import numpy as np
import torch
from PIL import Image


def to_model_pixels(images) -> torch.Tensor:
    """HxWx3 uint8 pictures (arrays or PIL images) -> Bx3xHxW float32 in [-1, 1]."""
    arrays = [np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image) for image in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 127.5 - 1


def to_pil_images(pixels: torch.Tensor) -> list[Image.Image]:
    """Bx3xHxW in [-1, 1] (any dtype or device) -> RGB pictures, rounded to the nearest level."""
    levels = ((pixels.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return [Image.fromarray(np.ascontiguousarray(item)) for item in levels.permute(0, 2, 3, 1).cpu().numpy()]
