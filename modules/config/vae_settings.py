"""Options of VAE selection and of how many checkpoints stay loaded or cached (A1111's keys and
labels)."""

from modules.config.setting_spec import SettingSpec

# The two fixed choices of "SD VAE"; the rest are the VAE files listed at run time.
VAE_AUTOMATIC = "Automatic"
VAE_NONE = "None"

VAE_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "sd_checkpoints_limit",
        1,
        "Maximum number of checkpoints loaded at the same time",
        "Stable Diffusion",
        "slider",
        minimum=1,
        maximum=10,
        step=1,
    ),
    SettingSpec(
        "sd_checkpoint_cache",
        0,
        "Checkpoints to cache in RAM",
        "Stable Diffusion",
        "slider",
        minimum=0,
        maximum=10,
        step=1,
    ),  # fmt: skip
    # A dropdown whose choices are known only at run time (the files in models/VAE): no fixed
    # choices here, so any text passes the settings check and the name is looked up among the
    # listed files when a job uses it (VaeRegistry.resolve). The UI offers the current files.
    SettingSpec("sd_vae", VAE_AUTOMATIC, "SD VAE", "VAE", "dropdown"),
    SettingSpec(
        "sd_vae_checkpoint_cache",
        0,
        "VAE Checkpoints to cache in RAM",
        "VAE",
        "slider",
        minimum=0,
        maximum=10,
        step=1,
    ),  # fmt: skip
    SettingSpec("add_vae_name_to_info", True, "Add VAE name to infotext", "Infotext", "checkbox"),
    SettingSpec("add_vae_hash_to_info", True, "Add VAE hash to infotext", "Infotext", "checkbox"),
)
