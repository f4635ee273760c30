"""Options of inpainting models (9-channel UNets) and instruct-pix2pix (A1111's key, label and
default)."""

from modules.config.setting_spec import SettingSpec

INPAINT_SETTINGS: tuple[SettingSpec, ...] = (
    # How much of the init picture an inpainting model is shown under the mask: 1 masks it fully,
    # 0 shows it the whole picture (modules/processing/inpaint_model.py). Infotext "Conditional mask
    # weight", as A1111 writes it.
    SettingSpec(
        "inpainting_mask_weight",
        1.0,
        "Inpainting conditioning mask strength",
        "Stable Diffusion",
        "slider",
        minimum=0.0,
        maximum=1.0,
        step=0.01,
    ),
)
