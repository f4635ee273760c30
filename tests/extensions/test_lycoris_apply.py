"""Activating networks from tags on a model: exact restore, text-encoder/UNet strengths,
repeated tags, warnings instead of failures, the infotext hashes."""

import hashlib

import pytest
import torch

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import context, ext_module, loaded_model, weights_hash, write_lycoris_file


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("apply") / "models"
    (root / "Lora").mkdir(parents=True)
    (root / "LyCORIS" / "styles").mkdir(parents=True)
    write_lycoris_file(root / "Lora" / "ink.safetensors", "lora", dim=4, alpha=2, conv_dim=4, conv_alpha=1)
    write_lycoris_file(root / "LyCORIS" / "styles" / "paper.safetensors", "loha", dim=4, alpha=2)
    return root


def calls(*tags: str) -> list[ExtraNetworkCall]:
    return [ExtraNetworkCall.from_tag(tag.split(":", 1)[0], tag.split(":", 1)[1]) for tag in tags]


def networks():
    return ext_module("network").LoraNetworks()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_deactivate_restores_every_tensor_bit_for_bit(models_dir, dtype):
    model = loaded_model()
    model.unet.to(dtype), model.text_encoder.to(dtype)
    before = weights_hash(model.unet, model.text_encoder)
    p, lora = context(model, models_dir), networks()

    lora.activate(p, calls("lora:ink:0.8:0.3", "lyco:paper:te=0.4:unet=1.3"))
    assert p.warnings == []
    assert weights_hash(model.unet) != weights_hash(loaded_model().unet.to(dtype))
    assert weights_hash(model.unet, model.text_encoder) != before
    lora.deactivate(p)

    assert weights_hash(model.unet, model.text_encoder) == before
    lora.deactivate(p)  # a second deactivate is harmless
    assert weights_hash(model.unet, model.text_encoder) == before


def test_a_job_without_tags_gets_the_original_weights_back(models_dir):
    # If a job's deactivate never ran, the next activate (even with no tags) restores first.
    model = loaded_model()
    before = weights_hash(model.unet, model.text_encoder)
    lora = networks()
    lora.activate(context(model, models_dir), calls("lora:ink:1"))
    lora.activate(context(model, models_dir), [])
    assert weights_hash(model.unet, model.text_encoder) == before


@pytest.mark.parametrize(("tag", "te_changes", "unet_changes"), [("ink:0:1", False, True), ("ink:1:0", True, False)])
def test_text_encoder_and_unet_strengths_are_separate(models_dir, tag, te_changes, unet_changes):
    model = loaded_model()
    te_before, unet_before = weights_hash(model.text_encoder), weights_hash(model.unet)
    lora = networks()
    lora.activate(context(model, models_dir), calls(f"lora:{tag}"))
    assert (weights_hash(model.text_encoder) != te_before) is te_changes
    assert (weights_hash(model.unet) != unet_before) is unet_changes


def test_the_same_network_twice_adds_up(models_dir):
    twice, once = loaded_model(), loaded_model()
    networks().activate(context(twice, models_dir), calls("lora:ink:0.25", "lora:ink:0.5"))
    networks().activate(context(once, models_dir), calls("lora:ink:0.75"))
    for a, b in zip(twice.unet.state_dict().values(), once.unet.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_unknown_and_malformed_tags_warn_and_the_rest_still_apply(models_dir):
    model = loaded_model()
    before = weights_hash(model.unet)
    p = context(model, models_dir)
    networks().activate(p, calls("lora:nowhere:1", "lora:ink:strong", "lora:ink:1"))

    missing, malformed = p.warnings
    assert "'nowhere' not found" in missing and "nowhere.safetensors" in missing
    # The folders by name only: a warning may go back to a remote client, where the server's files are is not shown.
    assert "models/Lora" in missing and "models/LyCORIS" in missing and str(models_dir) not in missing
    assert "'strong' is not a number" in malformed
    assert weights_hash(model.unet) != before  # ink was still applied


def test_networks_are_found_by_subfolder_path_and_alias(models_dir):
    for name in ("styles/paper", "paper-alias", "PAPER"):
        p = context(loaded_model(), models_dir)
        networks().activate(p, calls(f"lyco:{name}:1"))
        assert p.warnings == [], name


def test_what_cannot_be_applied_is_reported_and_the_rest_applies(models_dir, tmp_path):
    from safetensors.torch import load_file, save_file

    odd = dict(load_file(str(models_dir / "Lora" / "ink.safetensors")))
    # A layer of another model family (the original LDM UNet naming) ...
    odd["lora_unet_input_blocks_1_1_proj_in.lora_down.weight"] = torch.ones(4, 32)
    odd["lora_unet_input_blocks_1_1_proj_in.lora_up.weight"] = torch.ones(32, 4)
    # ... a format not supported (OFT) on a layer that exists, and a key in no known layout.
    odd["lora_unet_conv_norm_out.oft_blocks"] = torch.ones(4, 8, 8)
    odd["unet.conv_in.lora_magnitude_vector"] = torch.ones(32)
    (tmp_path / "Lora").mkdir()
    save_file(odd, str(tmp_path / "Lora" / "odd.safetensors"))
    model = loaded_model()
    before = weights_hash(model.unet)
    p = context(model, tmp_path)
    networks().activate(p, calls("lora:odd:1"))

    [warning] = p.warnings
    assert "'odd' (odd.safetensors)" in warning
    assert "1 layer(s) match nothing in this model (e.g. lora_unet_input_blocks_1_1_proj_in)" in warning
    assert "1 layer(s) use a format this extension cannot apply" in warning
    assert "1 key(s) in no known layout (e.g. unet.conv_in.lora_magnitude_vector)" in warning
    assert weights_hash(model.unet) != before  # the layers that fit were applied


def test_infotext_gets_a1111_lora_hashes(models_dir):
    p = context(loaded_model(), models_dir)
    networks().activate(p, calls("lora:ink:0.5", "lyco:styles/paper:1"))
    data = (models_dir / "Lora" / "ink.safetensors").read_bytes()
    header = int.from_bytes(data[:8], "little")
    ink_hash = hashlib.sha256(data[8 + header :]).hexdigest()[:12]  # A1111's "addnet" hash
    assert p.extra_generation_params["Lora hashes"].startswith(f"ink: {ink_hash}, styles/paper: ")
