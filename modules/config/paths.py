"""Where models, outputs and caches live for one running app."""

from dataclasses import dataclass
from pathlib import Path

from modules.models.discovery import DEMO_CHECKPOINT_NAME

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_DEMO_MODEL = REPO_ROOT / "models" / "Stable-diffusion" / DEMO_CHECKPOINT_NAME
BUNDLED_EXTENSIONS_DIR = REPO_ROOT / "extensions"
BUNDLED_EXTENSIONS = ("rembg", "lycoris", "soft_inpainting")


@dataclass(frozen=True)
class Paths:
    data_dir: Path
    models_dir: Path
    outputs_dir: Path
    extra_checkpoint_dirs: tuple[Path, ...] = ()
    bundled_checkpoints: tuple[Path, ...] = ()

    @classmethod
    def from_flags(cls, flags) -> "Paths":
        data_dir = Path(flags.data_dir).expanduser().resolve() if flags.data_dir else REPO_ROOT
        models_dir = Path(flags.models_dir).expanduser().resolve() if flags.models_dir else data_dir / "models"
        outputs_dir = Path(flags.outdir).expanduser().resolve() if flags.outdir else data_dir / "outputs"
        extra = (Path(flags.ckpt_dir).expanduser().resolve(),) if flags.ckpt_dir else ()
        bundled = () if flags.no_demo_model else (BUNDLED_DEMO_MODEL,)
        return cls(data_dir, models_dir, outputs_dir, extra_checkpoint_dirs=extra, bundled_checkpoints=bundled)

    @property
    def checkpoint_dirs(self) -> tuple[Path, ...]:
        return (self.models_dir / "Stable-diffusion", *self.extra_checkpoint_dirs)

    @property
    def styles_file(self) -> Path:
        return self.data_dir / "styles.csv"

    @property
    def settings_file(self) -> Path:
        return self.data_dir / "config.json"

    @property
    def user_extensions_dir(self) -> Path:
        """Where extensions are installed (the same folder as the bundled ones by default)."""
        return self.data_dir / "extensions"

    @property
    def extension_dirs(self) -> list[Path]:
        return [BUNDLED_EXTENSIONS_DIR, self.user_extensions_dir]

    @property
    def bundled_extensions(self) -> frozenset[Path]:
        return frozenset(BUNDLED_EXTENSIONS_DIR / name for name in BUNDLED_EXTENSIONS)

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / ".cache"

    @property
    def gradio_temp_dir(self) -> Path:
        return self.cache_dir / "gradio"
