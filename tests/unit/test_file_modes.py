"""Files the app writes get the mode the umask asks for (0644 under 022, 0600 under 077), not
the private 0600 of the temp file they are written through."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import os, stat, sys
    from pathlib import Path
    os.umask(int(sys.argv[2], 8))  # before the app's modules are imported, as at start-up
    from PIL import Image
    from modules.config.settings import Settings
    from modules.images.saving import ImageSaver
    from modules.prompts.styles import Style, StyleDatabase
    folder = Path(sys.argv[1])
    settings = Settings(folder / "config.json")
    settings.update({"samples_save": False})
    image = ImageSaver().save(Image.new("RGB", (8, 8)), folder / "outputs", 1, "x")
    styles = StyleDatabase(folder / "styles.csv")
    styles.save(Style("s", "x"))
    for path in (folder / "config.json", image, folder / "styles.csv"):
        print(oct(stat.S_IMODE(path.stat().st_mode)))
    """
)


@pytest.mark.parametrize("umask, mode", [("022", "0o644"), ("077", "0o600"), ("002", "0o664")])
def test_settings_images_and_styles_follow_the_umask(tmp_path, umask, mode):
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(tmp_path), umask], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.split() == [mode] * 3, done.stderr
