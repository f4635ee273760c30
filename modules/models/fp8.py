"""FP8 weight storage (A1111's "FP8 weight"): the Linear / Conv weights of the UNet and the text
encoders (A1111's scope: everything but the VAE) kept as float8_e4m3fn and cast to the compute
dtype layer by layer as each layer runs.

diffusers' layerwise casting does exactly this (a hook per leaf layer: upcast before forward,
back to 8 bits after; normalisation layers and embeddings stay in the compute dtype) and works on
the CPU. It cannot be undone in place (8-bit weights do not give the originals back): turning FP8
off means reading the checkpoint again (see modules/processing/generation.py).
"""

import torch

FP8_STORAGE_DTYPE = torch.float8_e4m3fn
FP8_DTYPES = (torch.float8_e4m3fn, torch.float8_e5m2)
FP8_PARTS = ("unet", "text_encoder", "text_encoder_2")  # the VAE stays in full precision, as A1111


def parameter_bytes(module: torch.nn.Module) -> int:
    """The bytes of the module's parameters as they are stored now."""
    return sum(parameter.numel() * parameter.element_size() for parameter in module.parameters())


def weights_in_fp8(module: torch.nn.Module | None) -> bool:
    """True when any of the module's parameters is stored in 8-bit floating point."""
    if module is None:
        return False
    return any(parameter.dtype in FP8_DTYPES for parameter in module.parameters())


def store_weights_fp8(module: torch.nn.Module, compute_dtype: torch.dtype) -> int:
    """Store the module's Linear / Conv weights in FP8, computed in `compute_dtype` layer by layer;
    the bytes saved (0 when they are stored so already)."""
    if weights_in_fp8(module):
        return 0
    if compute_dtype in FP8_DTYPES or not compute_dtype.is_floating_point:
        raise ValueError(f"FP8 weight: compute dtype must be a full floating-point type, not {compute_dtype}")
    before = parameter_bytes(module)
    _release_large_blocks_promptly()
    if hasattr(module, "enable_layerwise_casting"):  # a diffusers model: its own skip list applies
        module.enable_layerwise_casting(storage_dtype=FP8_STORAGE_DTYPE, compute_dtype=compute_dtype)
    else:
        from diffusers.hooks import apply_layerwise_casting

        apply_layerwise_casting(module, storage_dtype=FP8_STORAGE_DTYPE, compute_dtype=compute_dtype)
    return before - parameter_bytes(module)


def fp8_wanted(setting: str, family) -> bool:
    """Whether A1111's "FP8 weight" value asks for FP8 on a model of `family`."""
    if setting == "Enable":
        return True
    if setting == "Enable for SDXL":
        return getattr(family, "latent_space", None) == "sdxl"
    if setting in ("Disable", None, ""):
        return False
    raise ValueError(f"FP8 weight: {setting!r} is not one of Disable, Enable for SDXL, Enable")


def prepare_for_job(models, model, fp8_setting: str, cache_fp16_weight: bool, second_pass: bool = False):
    """(the model to run, infotext keys): `model`'s UNet put in FP8 when the setting asks for it
    on this family, or read again from disk in full precision when it is in FP8 and should not be
    (8-bit weights cannot give the originals back). `models`: the ModelManager that handed `model`
    out (its reread() reads the file again); `second_pass`: a refiner or hires checkpoint."""
    wanted = fp8_wanted(fp8_setting, model.family)
    cache = wanted and bool(cache_fp16_weight)
    if weights_in_fp8(model.unet):
        if wanted and not cache:
            if model.patcher.keeps_full_precision:
                model.patcher.restore()  # the set is merged again from the 8-bit originals
                model.patcher.drop_full_precision()
        elif not wanted or not model.patcher.keeps_full_precision:
            model = models.reread(model.info, second_pass=second_pass)  # full precision, from the file
    if wanted and not weights_in_fp8(model.unet):
        compute_dtype = model.unet.dtype
        model.patcher.restore()  # patches are merged again, into the 8-bit weights, by the job
        for part in FP8_PARTS:
            module = getattr(model, part, None)
            if module is None:
                continue
            if cache:
                model.patcher.keep_full_precision(part, compute_dtype)
            store_weights_fp8(module, compute_dtype)
    if not wanted:
        return model, {}
    params = {"FP8 weight": fp8_setting}
    if cache:
        params["Cache FP16 weight for LoRA"] = True
    return model, params


def _release_large_blocks_promptly() -> None:
    """FP8 casts every layer's weights up on every call; with glibc's default heap those short-lived
    blocks fragment it (bench/memory.py measured SDXL at 6.7 GiB peak RSS against 4.2 GiB). Blocks of
    1 MiB and more from mmap go back to the system when freed. A process-wide allocator setting,
    the same on every call, so calling it again is harmless; other C libraries are left alone."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass
