"""Token merging (ToMe for SD): fewer self-attention tokens at the UNet's highest-resolution level.

tomesd (Bolya & Hoffman's own package) does the merging: it swaps each diffusers
BasicTransformerBlock's class for a subclass whose forward merges r = ratio * N tokens by
bipartite soft matching before self-attention and unmerges after. Its forward is a copy of the
block's layer-norm path (the one SD 1.x, 2.x and SDXL blocks take), checked against diffusers
0.42.1. Settings as A1111 applies them: no random perturbation of the destination set (it can
break samplers), self-attention only, only at the level without downsampling.

A patch lives exactly as long as one pass (`merged_tokens`), so a job with ratio 0 runs on the
untouched UNet and gives its exact pixels.
"""

from collections.abc import Iterator
from contextlib import contextmanager

# tomesd's own attributes, left on the blocks by its remove_patch; ours removes them too.
_PATCH_ATTRIBUTES = ("_tome_info", "use_ada_layer_norm", "use_ada_layer_norm_zero")


def apply_token_merging(unet, ratio: float) -> None:
    """Patch `unet` (a diffusers UNet2DConditionModel) to merge `ratio` of the self-attention
    tokens at its top level; ratio 0 removes any patch. ValueError outside [0, 0.9]."""
    ratio = float(ratio)
    if not 0.0 <= ratio <= 0.9:
        raise ValueError(f"token merging ratio must be between 0 and 0.9, got {ratio}")
    remove_token_merging(unet)
    if ratio == 0:
        return
    import tomesd  # only jobs that merge tokens pay for the import

    tomesd.apply_patch(unet, ratio=ratio, use_rand=False, merge_attn=True, merge_crossattn=False, merge_mlp=False)
    info = unet._tome_info
    # tomesd reads the latent size from the UNet's first positional argument; callers that pass
    # `sample=` by keyword (or offloading wrappers) would break that, so read either.
    for hook in info["hooks"]:
        hook.remove()
    info["hooks"] = [unet.register_forward_pre_hook(_record_latent_size, with_kwargs=True)]


def remove_token_merging(unet) -> None:
    """Undo apply_token_merging: every block back to its own class, the size hook removed; a no-op
    on an unpatched UNet."""
    info = getattr(unet, "_tome_info", None)
    for hook in info["hooks"] if info is not None else ():
        hook.remove()
    for module in unet.modules():
        parent = getattr(type(module), "_parent", None)
        if type(module).__name__ == "ToMeBlock" and parent is not None:
            module.__class__ = parent
        for name in _PATCH_ATTRIBUTES:
            if name in module.__dict__:
                delattr(module, name)


def is_merging(unet) -> bool:
    return any(type(module).__name__ == "ToMeBlock" for module in unet.modules())


@contextmanager
def merged_tokens(unet, ratio: float) -> Iterator[None]:
    """`unet` merges tokens at `ratio` inside the block, and is untouched after it (also on error)."""
    if not ratio:
        yield
        return
    apply_token_merging(unet, ratio)
    try:
        yield
    finally:
        remove_token_merging(unet)


def first_pass_ratio(settings, overrides: dict | None, img2img: bool) -> float:
    """The job's ratio, as A1111's get_token_merging_ratio: img2img uses its own setting when it
    is non-zero, unless the request overrides the general one."""
    general = float(settings.get("token_merging_ratio") or 0)
    if img2img and "token_merging_ratio" not in (overrides or {}):
        return float(settings.get("token_merging_ratio_img2img") or 0) or general
    return general


def hires_ratio(settings) -> float:
    """The hires pass's ratio: its own setting when non-zero, else the general one (A1111)."""
    return float(settings.get("token_merging_ratio_hr") or 0) or float(settings.get("token_merging_ratio") or 0)


def _record_latent_size(module, args, kwargs):
    sample = args[0] if args else kwargs["sample"]
    module._tome_info["size"] = (sample.shape[2], sample.shape[3])
    return None
