"""Live previews of the latents while sampling: a cheap linear latent-to-RGB approximation
(default), TAESD when its decoder weights are in models/VAE-approx/, or the full VAE."""

import numpy as np
import torch
from PIL import Image

from modules.images.pixels import to_pil_images

PREVIEW_METHODS = ("Approx cheap", "TAESD", "Full")
TAESD_FILES = ("taesd_decoder.safetensors", "taesd_decoder.pth")
# SD 1.x latent channels -> RGB, the widely used approximation (A1111's "Approx cheap").
_SD1_FACTORS = torch.tensor(
    [[0.298, 0.207, 0.208], [0.187, 0.286, 0.173], [-0.158, 0.189, 0.264], [-0.184, -0.271, -0.473]]
)


def cheap_preview(latents: torch.Tensor) -> Image.Image:
    """The first image of the batch, at latent resolution, through a fixed 4x3 matrix."""
    sample = latents[0].detach().float().cpu()
    if sample.shape[0] != _SD1_FACTORS.shape[0]:
        sample = sample[:3] if sample.shape[0] >= 3 else sample.repeat(3, 1, 1)[:3]
        rgb = sample.permute(1, 2, 0)
    else:
        rgb = torch.einsum("chw,cr->hwr", sample, _SD1_FACTORS)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))


def full_preview(model, latents: torch.Tensor) -> Image.Image:
    from modules.processing.txt2img import decode_latents

    return decode_latents(model, latents[:1])[0]


class TaesdDecoder:
    """madebyollin's tiny SD 1.x decoder (diffusers' AutoencoderTiny), from models/VAE-approx/:
    its own layout ("1.weight", ...) or diffusers' ("decoder.layers.0.weight", ...); `.pth`
    read without running pickled code. Loaded once per file."""

    def __init__(self, folder):
        self.folder = folder
        self._loaded: tuple | None = None  # (path, mtime, module)

    def path(self):
        return next((self.folder / name for name in TAESD_FILES if (self.folder / name).is_file()), None)

    def _module(self, path):
        mtime = path.stat().st_mtime_ns
        if self._loaded is None or self._loaded[:2] != (path, mtime):
            from diffusers import AutoencoderTiny

            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
            state = {_diffusers_key(key): value for key, value in state.items()}
            module = AutoencoderTiny().eval()
            missing = module.load_state_dict(state, strict=False).missing_keys
            if any(key.startswith("decoder.") for key in missing):
                raise ValueError(f"{path.name} is not a TAESD decoder: missing {missing[:3]}")
            self._loaded = (path, mtime, module)
        return self._loaded[2]

    def preview(self, latents: torch.Tensor) -> Image.Image | None:
        path = self.path()
        if path is None:
            return None
        with torch.inference_mode():
            return to_pil_images(self._module(path).decode(latents[:1].float().cpu()).sample)[0]


def _diffusers_key(key: str) -> str:
    """madebyollin's Sequential starts with a clamp at index 0, which diffusers keeps apart."""
    if key.startswith("decoder."):
        return key
    index, _, rest = key.partition(".")
    return f"decoder.layers.{int(index) - 1}.{rest}" if index.isdigit() else key


def make_preview(method: str, model, latents: torch.Tensor, taesd: TaesdDecoder | None = None) -> Image.Image:
    if method == "Full":
        return full_preview(model, latents)
    if method == "TAESD" and taesd is not None:
        image = taesd.preview(latents)
        if image is not None:
            return image
    return cheap_preview(latents)  # TAESD without its file falls back to the cheap one
