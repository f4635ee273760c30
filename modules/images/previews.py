"""Live previews of the latents while sampling: a cheap linear latent-to-RGB approximation
(default), TAESD when its decoder weights are in models/VAE-approx/, or the full VAE. A TAESD
file that cannot be used never fails a job: previews fall back to the cheap one and the problem
is reported once."""

import logging
import pickle

import numpy as np
import torch
from PIL import Image

from modules.images.pixels import to_pil_images

log = logging.getLogger(__name__)

PREVIEW_METHODS = ("Approx cheap", "TAESD", "Full")
TAESD_FILES = ("taesd_decoder.safetensors", "taesd_decoder.pth")
# madebyollin's decoders per latent space (a model family's `latent_space`): SDXL has its own.
TAESD_FILES_BY_SPACE = {"sd": TAESD_FILES, "sdxl": ("taesdxl_decoder.safetensors", "taesdxl_decoder.pth")}
# SD 1.x latent channels -> RGB, the widely used approximation (A1111's "Approx cheap"); each
# model family carries its own (modules/models/families/).
_SD1_FACTORS = ((0.298, 0.207, 0.208), (0.187, 0.286, 0.173), (-0.158, 0.189, 0.264), (-0.184, -0.271, -0.473))


def cheap_preview(latents: torch.Tensor, factors=_SD1_FACTORS, bias=(0.0, 0.0, 0.0)) -> Image.Image:
    """The first image of the batch, at latent resolution, through the family's channels x 3 matrix."""
    sample = latents[0].detach().float().cpu()
    matrix = torch.tensor(factors)
    if sample.shape[0] != matrix.shape[0]:
        sample = sample[:3] if sample.shape[0] >= 3 else sample.repeat(3, 1, 1)[:3]
        rgb = sample.permute(1, 2, 0)
    else:
        rgb = torch.einsum("chw,cr->hwr", sample, matrix) + torch.tensor(bias)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(np.ascontiguousarray(pixels))


def full_preview(model, latents: torch.Tensor) -> Image.Image:
    from modules.processing.batch_loop import decode_latents

    return decode_latents(model, latents[:1])[0]


class TaesdDecoder:
    """madebyollin's tiny SD 1.x decoder (diffusers' AutoencoderTiny), from models/VAE-approx/:
    its own layout ("1.weight", ...) or diffusers' ("decoder.layers.0.weight", ...); `.pth`
    read without running pickled code. Loaded once per file; a file that fails to load or decode
    is not tried again until it changes, and `problem` says why."""

    def __init__(self, folder, files: tuple[str, ...] = TAESD_FILES):
        self.folder, self.files = folder, files
        self._loaded: tuple | None = None  # (path, mtime, module)
        self._failed: tuple | None = None  # (path, mtime) of the file version that failed
        self.problem: str | None = None

    def path(self):
        return next((self.folder / name for name in self.files if (self.folder / name).is_file()), None)

    def _module(self, path, mtime):
        if self._loaded is None or self._loaded[:2] != (path, mtime):
            from diffusers import AutoencoderTiny

            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict):
                raise ValueError(f"{path.name} holds a {type(state).__name__}, not a state dict")
            state = {_diffusers_key(key): value for key, value in state.items()}
            module = AutoencoderTiny().eval()
            missing = module.load_state_dict(state, strict=False).missing_keys
            if missing_decoder := [key for key in missing if key.startswith("decoder.")]:
                raise ValueError(f"{path.name} is not a TAESD decoder: missing {missing_decoder[:3]}")
            self._loaded = (path, mtime, module)
        return self._loaded[2]

    def preview(self, latents: torch.Tensor) -> Image.Image | None:
        """The TAESD picture of the first latent, or None when there is no usable decoder file."""
        images = self.decode_batch(latents[:1])
        return images[0] if images else None

    def decode_batch(self, latents: torch.Tensor) -> list[Image.Image] | None:
        """The TAESD pictures of all the latents (the "VAE type for decode" TAESD option), or None
        when there is no usable decoder file."""
        path = self.path()
        try:
            mtime = path.stat().st_mtime_ns if path is not None else None
        except OSError:
            mtime = None  # removed meanwhile
        if mtime is None:
            self.problem = None
            return None
        if self._failed == (path, mtime):
            return None
        try:
            with torch.inference_mode():
                module = self._module(path, mtime)
                images = to_pil_images(module.decode(latents.float().cpu()).sample)
            self.problem = None
            return images
        except Exception as error:  # noqa: BLE001 - any broken file (pickle, safetensors, shapes) is the same case
            self._loaded, self._failed = None, (path, mtime)
            reason = _reason(error)
            self.problem = f"TAESD previews are off: {path} cannot be used ({reason}); using the cheap preview"
            log.warning(self.problem)
            return None


def _reason(error: Exception) -> str:
    """A short why for the user. torch's refusal of a .pth suggests loading it with pickles allowed,
    which is exactly what must not be done with a file of unknown origin: say what it means instead."""
    if isinstance(error, pickle.UnpicklingError):
        return "not a weights file that loads without running code in it"
    first_line = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first_line[:200]}"


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
    family = getattr(model, "family", None)
    if family is None:
        return cheap_preview(latents)
    # TAESD without its file falls back to the cheap one too.
    return cheap_preview(latents, family.preview_factors, family.preview_bias)
