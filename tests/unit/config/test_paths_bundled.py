"""The extensions the repository ships are the ones the app treats as bundled (never offered for
removal or `git pull`): the folders .gitignore keeps under extensions/ are BUNDLED_EXTENSIONS."""

from modules.config.paths import BUNDLED_EXTENSIONS, BUNDLED_EXTENSIONS_DIR, REPO_ROOT


def test_every_shipped_extension_is_bundled():
    kept = [line.strip() for line in (REPO_ROOT / ".gitignore").read_text().splitlines()]
    shipped = {line.removeprefix("!extensions/").strip("/") for line in kept if line.startswith("!extensions/")}
    assert shipped == set(BUNDLED_EXTENSIONS)
    assert all((BUNDLED_EXTENSIONS_DIR / name / "plugin.py").is_file() for name in BUNDLED_EXTENSIONS)
