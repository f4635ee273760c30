"""Options of memory and speed: VAE tiling and the decoder used for the final picture."""

from modules.config.setting_spec import SettingSpec

VAE_DECODE_METHODS = ("Full", "TAESD")
VAE_TILING_CHOICES = ("Automatic", "Always", "Never")

MEMORY_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "sd_vae_decode_method",
        "Full",
        "VAE type for decode (TAESD: fast, lower quality; falls back to Full when its file is missing)",
        section="VAE",
        kind="dropdown",
        choices=VAE_DECODE_METHODS,
    ),
    SettingSpec(
        "vae_tiling",
        "Automatic",
        "VAE tiling (Automatic: tile only when the whole picture would not fit in free memory)",
        section="VAE",
        kind="dropdown",
        choices=VAE_TILING_CHOICES,
    ),
)
