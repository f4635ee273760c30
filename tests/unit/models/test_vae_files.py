"""Which files "SD VAE" lists, and how names match them (never as paths)."""

import os
from pathlib import Path

from modules.models.vae_files import beside_checkpoint, find_vaes, match_vae


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_vae_folders_list_their_files_and_checkpoint_folders_only_vae_files(tmp_path):
    vae_dir, extra_dir, ckpt_dir = tmp_path / "VAE", tmp_path / "extra", tmp_path / "Stable-diffusion"
    for name in ("a.safetensors", "b.pt", "sub/c.ckpt", "notes.txt", ".hidden.safetensors", ".cache/d.safetensors"):
        touch(vae_dir / name)
    touch(extra_dir / "e.safetensors")
    for name in ("model.safetensors", "model.vae.safetensors", "old.vae.pt", "other.ckpt"):
        touch(ckpt_dir / name)
    os.mkfifo(vae_dir / "fifo.safetensors")  # would block whoever reads it
    listed = find_vaes((vae_dir, extra_dir), (ckpt_dir, tmp_path / "missing"))
    names = [info.name for info in listed]
    assert names == ["a.safetensors", "b.pt", "e.safetensors", "model.vae.safetensors", "old.vae.pt", "sub/c.ckpt"]
    assert next(info for info in listed if info.name == "sub/c.ckpt").path == (vae_dir / "sub" / "c.ckpt").resolve()


def test_names_match_listed_names_or_their_stems_never_paths(tmp_path):
    vae_dir = tmp_path / "VAE"
    touch(vae_dir / "a.safetensors")
    touch(vae_dir / "sub/b.pt")
    touch(vae_dir / "twin.pt")
    touch(vae_dir / "twin.safetensors")
    touch(tmp_path / "outside.safetensors")
    listed = find_vaes((vae_dir,), ())
    assert match_vae("a.safetensors", listed).name == "a.safetensors"
    assert match_vae("a", listed).name == "a.safetensors"  # infotext's "VAE: a"
    assert match_vae("sub/b", listed).name == "sub/b.pt"
    assert match_vae("b", listed).name == "sub/b.pt"
    assert match_vae("twin", listed) is None  # two files: the stem says not which
    assert match_vae("twin.pt", listed).name == "twin.pt"
    assert match_vae("../outside.safetensors", listed) is None
    assert match_vae(str(tmp_path / "outside.safetensors"), listed) is None


def test_automatic_is_the_vae_file_named_after_the_checkpoint_beside_it(tmp_path):
    ckpt_dir = tmp_path / "Stable-diffusion"
    model = touch(ckpt_dir / "model.safetensors")
    other = touch(ckpt_dir / "sub" / "other.safetensors")
    touch(ckpt_dir / "model.vae.pt")
    touch(ckpt_dir / "model.vae.safetensors")
    touch(ckpt_dir / "other.vae.safetensors")  # beside another folder's namesake: not other's
    listed = find_vaes((tmp_path / "VAE",), (ckpt_dir,))
    assert beside_checkpoint("model.safetensors", model, listed).name == "model.vae.safetensors"  # .safetensors first
    assert beside_checkpoint("sub/other.safetensors", other, listed) is None
    link = ckpt_dir / "linked.safetensors"
    link.symlink_to(tmp_path / "elsewhere.safetensors")
    touch(ckpt_dir / "linked.vae.pt")
    listed = find_vaes((tmp_path / "VAE",), (ckpt_dir,))
    # A link is listed by its own name and resolved path: the VAE beside the link is its.
    assert beside_checkpoint("linked.safetensors", link.resolve(), listed).name == "linked.vae.pt"
