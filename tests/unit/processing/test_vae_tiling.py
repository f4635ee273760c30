"""VAE tiling policy and the tiled decode / encode on the tiny test VAE."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from modules.config.settings import Settings
from modules.processing import vae_tiling
from modules.processing.hires import encode_images
from modules.processing.latent_codec import decode_latents
from tests.fixtures.tiny_model import build_modules

# The tiny VAE scales by 8. Its tiles are set to 16x16 latents (128 px; diffusers' default for
# it, 8x8, gives tiles so small that its GroupNorm statistics differ a lot per tile): a 24x24
# latent is split into 2 x 2 overlapping tiles whose seams are blended.
LATENT_SHAPE = (1, 4, 24, 24)


@pytest.fixture(scope="module")
def vae():
    _unet, vae, _text = build_modules(seed=0)
    vae.tile_latent_min_size, vae.tile_sample_min_size = 16, 128
    return vae


@pytest.fixture(scope="module")
def latents():
    return torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(1)) * 0.18215


def test_tiled_decode_is_close_to_untiled_but_not_identical(vae, latents):
    whole = vae_tiling.decode(vae, latents, "Never")
    tiled = vae_tiling.decode(vae, latents, "Always")
    other = vae_tiling.decode(
        vae, torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(9)) * 0.18215, "Never"
    )
    assert whole.shape == tiled.shape == (1, 3, 192, 192)
    assert not torch.equal(whole, tiled), "the tiled path did not run"
    # Measured on the tiny random VAE (2026-11-30): tiled vs whole mean |difference| 0.078, max 1.19
    # (seams), correlation 0.93; a decode of another latent: mean |difference| 0.30, correlation 0.19.
    difference = (whole - tiled).abs().mean().item()
    unrelated = (whole - other).abs().mean().item()
    correlation = torch.corrcoef(torch.stack([whole.flatten(), tiled.flatten()]))[0, 1].item()
    assert difference < 0.1, f"mean difference {difference:.4f} (measured 0.078)"
    assert difference < 0.5 * unrelated, f"tiled {difference:.4f} vs another latent's decode {unrelated:.4f}"
    assert correlation > 0.9, f"correlation {correlation:.3f} (measured 0.93)"


def test_tiled_encode_is_close_to_untiled_but_not_identical(vae):
    pixels = torch.rand(1, 3, 192, 192, generator=torch.Generator().manual_seed(2)) * 2 - 1
    whole = vae_tiling.encode(vae, pixels, "Never")
    tiled = vae_tiling.encode(vae, pixels, "Always")
    assert whole.shape == tiled.shape == (1, 4, 24, 24)
    difference = (whole - tiled).abs()
    assert not torch.equal(whole, tiled), "the tiled path did not run"
    # Measured (2026-11-30): mean |difference| 0.0070, with latents of mean magnitude 0.046.
    assert difference.mean().item() < 0.015, f"mean difference {difference.mean().item():.4f} (measured 0.0070)"


def test_automatic_tiles_only_when_the_budget_is_too_small(vae, latents):
    estimate = vae_tiling.decode_estimate_bytes(latents)
    assert estimate == 1 * 128 * 192 * 192 * 4 * vae_tiling.DECODE_PEAK_FACTOR
    assert vae_tiling.should_tile("Automatic", estimate, budget_bytes=estimate - 1)
    assert not vae_tiling.should_tile("Automatic", estimate, budget_bytes=estimate)
    whole = vae_tiling.decode(vae, latents, "Never")
    tiled = vae_tiling.decode(vae, latents, "Always")
    assert torch.equal(vae_tiling.decode(vae, latents, "Automatic", budget_bytes=1024), tiled)
    assert torch.equal(vae_tiling.decode(vae, latents, "Automatic", budget_bytes=1 << 40), whole)


def test_always_and_never_ignore_the_budget():
    assert vae_tiling.should_tile("Always", estimate_bytes=1, budget_bytes=1 << 40)
    assert not vae_tiling.should_tile("Never", estimate_bytes=1 << 40, budget_bytes=1)
    assert not vae_tiling.should_tile(None, estimate_bytes=1 << 40, budget_bytes=None)  # unknown budget
    with pytest.raises(ValueError, match="vae_tiling"):
        vae_tiling.should_tile("Sometimes", 1, 1)


def test_free_memory_is_a_positive_budget_on_cpu():
    assert vae_tiling.free_memory_bytes(torch.device("cpu")) >= 0


def test_settings_validate_their_choices(tmp_path):
    settings = Settings(tmp_path / "config.json")
    assert settings.get("vae_tiling") == "Automatic"
    assert settings.get("sd_vae_decode_method") == "Full"
    assert settings.snapshot({"vae_tiling": "Always"}).get("vae_tiling") == "Always"
    with pytest.raises(ValueError, match="vae_tiling"):
        settings.snapshot({"vae_tiling": "Sometimes"})
    with pytest.raises(ValueError, match="sd_vae_decode_method"):
        settings.snapshot({"sd_vae_decode_method": "Approx cheap"})


def test_decode_and_encode_follow_the_job_settings(tmp_path, vae, latents):
    settings = Settings(tmp_path / "config.json")
    model = SimpleNamespace(vae=vae)
    tiled = decode_latents(model, latents, settings.snapshot({"vae_tiling": "Always"}))
    whole = decode_latents(model, latents, settings.snapshot({"vae_tiling": "Never"}))
    assert tiled[0].size == whole[0].size == (192, 192)
    assert not np.array_equal(np.asarray(tiled[0]), np.asarray(whole[0]))
    assert np.array_equal(np.asarray(whole[0]), np.asarray(decode_latents(model, latents)[0]))
    pictures = [whole[0]]
    encoded_tiled = encode_images(model, pictures, settings.snapshot({"vae_tiling": "Always"}))
    encoded_whole = encode_images(model, pictures, settings.snapshot({"vae_tiling": "Never"}))
    assert encoded_tiled.shape == encoded_whole.shape == (1, 4, 24, 24)
    assert not torch.equal(encoded_tiled, encoded_whole)


def test_taesd_without_a_decoder_file_falls_back_to_the_full_vae(tmp_path, vae, latents, caplog):
    from modules.images.previews import TaesdDecoder

    settings = Settings(tmp_path / "config.json").snapshot({"sd_vae_decode_method": "TAESD", "vae_tiling": "Never"})
    model = SimpleNamespace(vae=vae)
    empty = TaesdDecoder(tmp_path / "VAE-approx")
    with caplog.at_level("WARNING"):
        pictures = decode_latents(model, latents, settings, taesd=empty)
    full = decode_latents(model, latents, Settings(tmp_path / "config.json").snapshot({"vae_tiling": "Never"}))
    assert np.array_equal(np.asarray(pictures[0]), np.asarray(full[0]))
    assert "decoding with the full VAE" in caplog.text


def test_taesd_decodes_the_whole_batch_when_its_file_is_there(tmp_path, vae):
    from diffusers import AutoencoderTiny
    from safetensors.torch import save_file

    from modules.images.previews import TaesdDecoder

    torch.manual_seed(3)
    state = {k: v.contiguous() for k, v in AutoencoderTiny().state_dict().items() if k.startswith("decoder.")}
    (tmp_path / "VAE-approx").mkdir()
    save_file(state, str(tmp_path / "VAE-approx" / "taesd_decoder.safetensors"))
    taesd = TaesdDecoder(tmp_path / "VAE-approx")
    batch = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(4))
    settings = Settings(tmp_path / "config.json").snapshot({"sd_vae_decode_method": "TAESD"})
    pictures = decode_latents(SimpleNamespace(vae=vae), batch, settings, taesd=taesd)
    assert [picture.size for picture in pictures] == [(64, 64), (64, 64)]
    assert np.array_equal(np.asarray(pictures[0]), np.asarray(taesd.preview(batch)))
    assert not np.array_equal(np.asarray(pictures[0]), np.asarray(pictures[1]))
    full = decode_latents(SimpleNamespace(vae=vae), batch)
    assert not np.array_equal(np.asarray(pictures[0]), np.asarray(full[0]))  # not the full VAE's


def test_automatic_tiling_sees_a_memory_limit_set_on_the_process():
    # A process under a cap (ulimit -d, a container, bench/memory.py's probes) must not budget the
    # whole machine's free RAM: "Automatic" would decode untiled and run out of memory.
    import subprocess
    import sys

    code = (
        "import resource, torch\n"
        "from modules.processing.vae_tiling import free_memory_bytes, process_room_bytes\n"
        "print(free_memory_bytes(torch.device('cpu')))\n"
        "resource.setrlimit(resource.RLIMIT_DATA, (3 << 30, resource.getrlimit(resource.RLIMIT_DATA)[1]))\n"
        "print(free_memory_bytes(torch.device('cpu')), process_room_bytes())\n"
    )
    repo = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    uncapped, capped, room = (int(value) for value in out.stdout.split())
    assert 0 < room < 3 << 30  # the limit less what the process already uses
    assert capped <= room < uncapped  # this machine has more than 3 GiB free


def test_tiles_are_never_larger_than_the_tile_size_and_the_vae_keeps_its_own(monkeypatch):
    # SDXL's VAE says 1024 px tiles: a 1024x1024 decode would be one tile and save nothing.
    from diffusers import AutoencoderKL

    from tests.fixtures.tiny_model import VAE_CONFIG

    big_tiles = AutoencoderKL(**{**VAE_CONFIG, "sample_size": 128}).eval()
    monkeypatch.setattr(vae_tiling, "TILE_PIXELS", 64)
    calls = []
    hook = big_tiles.decoder.register_forward_hook(lambda module, args, out: calls.append(out.shape[-1]))
    latents = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3))  # 128 px
    pixels = vae_tiling.decode(big_tiles, latents, mode="Always")
    hook.remove()
    assert pixels.shape == (1, 3, 128, 128)
    assert len(calls) == 9 and max(calls) == 64  # 3 x 3 tiles of at most 64 px (48 px stride), not one of 128
    assert (big_tiles.tile_sample_min_size, big_tiles.tile_latent_min_size) == (128, 16)
