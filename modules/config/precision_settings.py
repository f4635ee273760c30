"""Options of weight precision: A1111's "FP8 weight" and "Cache FP16 weight for LoRA"."""

from modules.config.setting_spec import SettingSpec

FP8_STORAGE_CHOICES = ("Disable", "Enable for SDXL", "Enable")

PRECISION_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "fp8_storage",
        "Disable",
        "FP8 weight (store the UNet's Linear/Conv weights in 8 bits, computed layer by layer in the usual "
        "precision: about half or a quarter of the memory, a small change in pictures)",
        section="Optimizations",
        kind="dropdown",
        choices=FP8_STORAGE_CHOICES,
    ),
    SettingSpec(
        "cache_fp16_weight",
        False,
        "Cache FP16 weight for LoRA (with FP8 weight: keep a full-precision copy of the UNet's weights in RAM "
        "so LoRA merges start from it; better LoRA quality, more memory)",
        section="Optimizations",
        kind="checkbox",
    ),
)
