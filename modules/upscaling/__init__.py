"""Upscalers: None / Lanczos / Nearest and model upscalers (ESRGAN, SwinIR, DAT, HAT, ScuNET...)
found under models/ and loaded by spandrel. `UpscalerRegistry` is what the engine exposes as
`engine.upscalers`."""

from modules.upscaling.registry import BUILTIN_UPSCALERS, UnknownUpscalerNameError, UpscalerRegistry

__all__ = ["BUILTIN_UPSCALERS", "UnknownUpscalerNameError", "UpscalerRegistry"]
