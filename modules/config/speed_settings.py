"""A1111's speed options (Settings > Optimizations): token merging, Negative Guidance minimum
sigma, Batch cond/uncond, Pad prompt/negative prompt. Their infotext keys and the paste mapping
live in modules/images/infotext.py (INFOTEXT_SETTINGS)."""

from modules.config.setting_spec import SettingSpec

SECTION = "Optimizations"

SPEED_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "token_merging_ratio",
        0.0,
        "Token merging ratio (0=disable, higher=faster; merges self-attention tokens of the highest-resolution level)",
        section=SECTION,
        kind="slider",
        minimum=0.0,
        maximum=0.9,
        step=0.1,
    ),
    SettingSpec(
        "token_merging_ratio_img2img",
        0.0,
        "Token merging ratio for img2img (only applies if non-zero and overrides above)",
        section=SECTION,
        kind="slider",
        minimum=0.0,
        maximum=0.9,
        step=0.1,
    ),
    SettingSpec(
        "token_merging_ratio_hr",
        0.0,
        "Token merging ratio for high-res pass (only applies if non-zero and overrides above)",
        section=SECTION,
        kind="slider",
        minimum=0.0,
        maximum=0.9,
        step=0.1,
    ),
    SettingSpec(
        "s_min_uncond",
        0.0,
        "Negative Guidance minimum sigma (skip negative prompt for some steps when the image is almost "
        "ready; 0=disable, higher=faster)",
        section=SECTION,
        kind="slider",
        minimum=0.0,
        maximum=15.0,
        step=0.01,
    ),
    SettingSpec(
        "batch_cond_uncond",
        True,
        "Batch cond/uncond (do both conditional and unconditional denoising in one batch; uses a bit "
        "more memory during sampling, but improves speed)",
        section=SECTION,
        kind="checkbox",
    ),
    # On by default, unlike A1111: this engine has always padded the shorter of prompt and negative
    # with empty chunks and batched them, and the default must keep giving the same pictures.
    SettingSpec(
        "pad_cond_uncond",
        True,
        "Pad prompt/negative prompt to be same length (improves performance when prompt and negative "
        "prompt have different lengths; changes seeds)",
        section=SECTION,
        kind="checkbox",
    ),
)
