"""Options of memory and speed: VAE tiling and the decoder used for the final picture."""

from modules.config.setting_spec import SettingSpec

MEMORY_SETTINGS: tuple[SettingSpec, ...] = ()
