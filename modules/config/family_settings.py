"""Options of the model families: SDXL's micro-conditioning and the refiner's aesthetic scores
(A1111's keys, labels and defaults)."""

from modules.config.setting_spec import SettingSpec

FAMILY_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("sdxl_crop_top", 0, "crop top coordinate", "SDXL", "number", minimum=0, maximum=8192, step=1),
    SettingSpec("sdxl_crop_left", 0, "crop left coordinate", "SDXL", "number", minimum=0, maximum=8192, step=1),
    SettingSpec(
        "sdxl_refiner_low_aesthetic_score",
        2.5,
        "SDXL low aesthetic score (used for the refiner's negative prompt)",
        "SDXL",
        "number",
        minimum=0.0,
        maximum=10.0,
    ),
    SettingSpec(
        "sdxl_refiner_high_aesthetic_score",
        6.0,
        "SDXL high aesthetic score (used for the refiner's prompt)",
        "SDXL",
        "number",
        minimum=0.0,
        maximum=10.0,
    ),
)
