"""Installing from a local folder or a git repository, updating with git, removing."""

import os
import subprocess
from pathlib import Path

import pytest

from modules.plugins import installer
from modules.plugins.discovery import find_extensions

PLUGIN = "from modules.plugins import hookimpl\nVERSION = {version}\n"


def git(cwd: Path, *args: str) -> str:
    who = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env = {**os.environ, **who}
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env)
    return done.stdout.strip()


@pytest.fixture
def upstream(tmp_path) -> Path:
    repo = tmp_path / "upstream" / "my-ext"
    repo.mkdir(parents=True)
    (repo / "plugin.py").write_text(PLUGIN.format(version=1))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "v1")
    return repo


def test_install_from_git_then_update_then_remove(tmp_path, upstream):
    root = tmp_path / "extensions"
    target = installer.install(str(upstream), root)
    assert target == root / "my-ext" and "VERSION = 1" in (target / "plugin.py").read_text()
    (info,) = find_extensions([root])
    assert info.git()["commit_hash"] == git(upstream, "rev-parse", "HEAD")
    assert info.git()["remote"] == str(upstream)
    (upstream / "plugin.py").write_text(PLUGIN.format(version=2))
    git(upstream, "commit", "-qam", "v2")
    installer.update(info)
    assert "VERSION = 2" in (target / "plugin.py").read_text()
    assert info.git()["commit_hash"] == git(upstream, "rev-parse", "HEAD")
    installer.remove(info, root)
    assert not target.exists() and list(root.iterdir()) == []


def test_install_from_a_local_folder_under_a_chosen_name(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "plugin.py").write_text(PLUGIN.format(version=3))
    target = installer.install(str(source), tmp_path / "extensions", name="chosen")
    assert (target / "plugin.py").read_text() == PLUGIN.format(version=3)
    with pytest.raises(installer.ExtensionInstallError, match="already exists"):
        installer.install(str(source), tmp_path / "extensions", name="chosen")
    (info,) = find_extensions([tmp_path / "extensions"])
    with pytest.raises(installer.ExtensionInstallError, match="not installed from git"):
        installer.update(info)


@pytest.mark.parametrize(
    "source, message",
    [
        ("", "give a git URL"),
        ("/no/such/place/ext.git", "git clone failed"),
    ],
)
def test_failed_installs_leave_nothing_behind(tmp_path, source, message):
    root = tmp_path / "extensions"
    with pytest.raises(installer.ExtensionInstallError, match=message):
        installer.install(source, root)
    assert not root.exists() or list(root.iterdir()) == []


def test_a_folder_without_plugin_is_refused_and_cleaned_up(tmp_path):
    source = tmp_path / "notes"
    source.mkdir()
    (source / "README.md").write_text("hello")
    with pytest.raises(installer.ExtensionInstallError, match="no plugin.py"):
        installer.install(str(source), tmp_path / "extensions")
    assert not (tmp_path / "extensions").exists() or list((tmp_path / "extensions").iterdir()) == []


def test_a_big_folder_without_plugin_is_refused_before_anything_is_copied(tmp_path):
    source = tmp_path / "photos"
    (source / "2024").mkdir(parents=True)
    for index in range(200):
        (source / "2024" / f"{index}.jpg").write_bytes(b"\xff" * 1024)
    # A link to itself cannot be copied (ELOOP): had the copy been tried, it would fail on it.
    (source / "2024" / "loop").symlink_to("loop")
    root = tmp_path / "extensions"
    with pytest.raises(installer.ExtensionInstallError, match="photos has no plugin.py"):
        installer.install(str(source), root)
    assert not root.exists()  # not even a staging folder was made


def test_a_folder_overlapping_the_extensions_folder_is_refused(tmp_path):
    data = tmp_path / "data"
    root = data / "extensions"
    (root / "present").mkdir(parents=True)
    (root / "present" / "plugin.py").write_text(PLUGIN.format(version=1))
    (data / "plugin.py").write_text(PLUGIN.format(version=1))
    with pytest.raises(installer.ExtensionInstallError, match="is inside the extensions folder"):
        installer.install(str(root / "present"), root, name="again")
    with pytest.raises(installer.ExtensionInstallError, match="it would be copied into itself"):
        installer.install(str(data), root, name="data")
    assert sorted(p.name for p in root.iterdir()) == ["present"]


def test_a_symlink_loop_is_refused_and_links_inside_are_copied_as_links(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(tmp_path / "loop")
    root = tmp_path / "extensions"
    with pytest.raises(installer.ExtensionInstallError, match="cannot use .*loop"):
        installer.install(str(loop), root, name="loop")
    source = tmp_path / "ext"
    source.mkdir()
    (source / "plugin.py").write_text(PLUGIN.format(version=4))
    (source / "up").symlink_to("..")  # followed, the copy would never end
    target = installer.install(str(source), root)
    assert (target / "up").is_symlink() and os.readlink(target / "up") == ".."
    assert (target / "plugin.py").read_text() == PLUGIN.format(version=4)


def test_bundled_extensions_cannot_be_removed_or_updated(tmp_path):
    folder = tmp_path / "extensions" / "shipped"
    folder.mkdir(parents=True)
    (folder / "plugin.py").write_text("")
    (info,) = find_extensions([tmp_path / "extensions"], bundled=frozenset({folder}))
    with pytest.raises(installer.ExtensionInstallError, match="disable it instead"):
        installer.remove(info, tmp_path / "extensions")
    with pytest.raises(installer.ExtensionInstallError, match="ships with the app"):
        installer.update(info)
    assert folder.exists()
