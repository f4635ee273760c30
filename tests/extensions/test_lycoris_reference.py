"""Every supported format, applied by the extension, against the `lycoris` package itself.

Files are made by the package's kohya wrapper (the layout users have: `lora_unet_...`,
`lora_te_...`) and read back by the extension through a real prompt-tag activation.

Two references, because the package's own merge and its own forward disagree in places:
- weights: the package's per-layer `merge_to(multiplier)`. In lycoris-lora 4.1.3 that merge
  multiplies LoHa and LoKr changes by alpha/rank twice (its forward pass, the way the network was
  trained, does it once), and the kohya wrapper's `merge_to` ignores the multiplier. So the weight
  comparison uses alpha == rank for LoHa/LoKr, and merges layer by layer.
- outputs: the package's forward pass with the network attached (what training optimized),
  at alpha != rank, compared with a plain forward of the model merged by the extension.
Where the package cannot read its own file back (IA3: its loader passes two tensors to a
one-tensor constructor; LoKr with a Tucker core: its loader takes the rank from the wrong axis),
the network object that wrote the file is the reference.
"""

import pytest
import torch

from modules.plugins.types import ExtraNetworkCall
from tests.extensions.lycoris_support import (
    IA3_PRESET,
    SD1_PRESET,
    context,
    ext_module,
    fresh_parts,
    loaded_model,
    write_lycoris_file,
)

MULTIPLIER = 0.7
# name: (algo, alpha for the weight check, package options)
CASES = {
    "lora": ("lora", 2, {"preset": SD1_PRESET.format(conv="false")}),
    "locon": ("lora", 2, {"conv_dim": 4, "conv_alpha": 1}),
    "locon_tucker": ("lora", 2, {"conv_dim": 4, "conv_alpha": 1, "use_tucker": True}),
    "loha": ("loha", 4, {}),
    "loha_tucker": ("loha", 4, {"use_tucker": True}),
    "lokr": ("lokr", 4, {"factor": 4, "decompose_both": True}),
    "lokr_whole": ("lokr", 4, {}),
    "lokr_tucker": ("lokr", 4, {"factor": 4, "use_tucker": True}),
    "ia3": ("ia3", 2, {"preset": IA3_PRESET}),
    "full": ("full", 2, {}),
}


def apply_with_extension(models_dir, name, multiplier):
    model = loaded_model()
    p = context(model, models_dir)
    ext_module("network").LoraNetworks().activate(p, [ExtraNetworkCall.from_tag("lora", f"{name}:{multiplier}")])
    assert p.warnings == []
    return model.unet, model.text_encoder


UNREADABLE_BY_PACKAGE = {"ia3", "lokr_tucker"}


def package_merge(path, written, multiplier):
    """The package's merge of the file at `path`; `written` = (network, unet, text_encoder) from
    write_lycoris_file, used as is when the package cannot read the file back."""
    from lycoris import kohya

    if path.stem in UNREADABLE_BY_PACKAGE:
        network_in_memory, unet, text_encoder = written
        layers = network_in_memory.unet_loras + network_in_memory.text_encoder_loras
    else:
        unet, text_encoder = fresh_parts()
        network, _ = kohya.create_network_from_weights(multiplier, str(path), None, text_encoder, unet)
        layers = network.unet_loras + network.text_encoder_loras
    for layer in layers:
        layer.merge_to(multiplier)
    return unet, text_encoder


def compare_weights(ours, reference, original):
    """(max |ours - reference|, max |change|) over every tensor of both components."""
    worst, changed = 0.0, 0.0
    for mine, theirs, before in zip(ours, reference, original, strict=True):
        theirs_state, before_state = theirs.state_dict(), before.state_dict()
        for key, tensor in mine.state_dict().items():
            worst = max(worst, (tensor - theirs_state[key]).abs().max().item())
            changed = max(changed, (tensor - before_state[key]).abs().max().item())
    return worst, changed


@pytest.mark.parametrize("case", CASES)
def test_merged_weights_equal_the_package_merge(case, tmp_path):
    algo, alpha, options = CASES[case]
    path = tmp_path / "models" / "Lora" / f"{case}.safetensors"
    path.parent.mkdir(parents=True)
    written = write_lycoris_file(path, algo, dim=4, alpha=alpha, **options)

    ours = apply_with_extension(tmp_path / "models", case, MULTIPLIER)
    reference = package_merge(path, written, MULTIPLIER)
    worst, changed = compare_weights(ours, reference, fresh_parts())

    print(f"{case}: max |ours - lycoris| = {worst:.3g}, max change = {changed:.3g}")
    assert changed > 1e-2  # the file really changes the model
    assert worst <= 1e-5 * max(1.0, changed)
    # Both components take part (the text encoder too, not only the UNet).
    for mine, before in zip(ours, fresh_parts(), strict=True):
        before_state = before.state_dict()
        assert any(not torch.equal(tensor, before_state[key]) for key, tensor in mine.state_dict().items())


def test_dora_at_full_strength_equals_the_package_merge(tmp_path):
    # DoRA strength semantics differ between tools below 1.0 (the package rescales the magnitude,
    # A1111/ComfyUI and this extension scale the change); at 1.0 all agree.
    path = tmp_path / "models" / "Lora" / "dora.safetensors"
    path.parent.mkdir(parents=True)
    write_lycoris_file(path, "lora", dim=4, alpha=2, dora_wd=True)

    ours = apply_with_extension(tmp_path / "models", "dora", 1.0)
    reference = package_merge(path, None, 1.0)
    worst, changed = compare_weights(ours, reference, fresh_parts())

    print(f"dora: max |ours - lycoris| = {worst:.3g}, max change = {changed:.3g}")
    assert changed > 1e-2
    assert worst <= 1e-5 * max(1.0, changed)


FORWARD_CASES = {
    "lora": ("lora", {"preset": SD1_PRESET.format(conv="false")}),
    "locon": ("lora", {"conv_dim": 4, "conv_alpha": 1}),
    "locon_tucker": ("lora", {"conv_dim": 4, "conv_alpha": 1, "use_tucker": True}),
    "loha": ("loha", {}),
    "loha_tucker": ("loha", {"use_tucker": True}),
    "lokr": ("lokr", {"factor": 4, "decompose_both": True}),
    "lokr_tucker": ("lokr", {"factor": 4, "use_tucker": True}),
    "ia3": ("ia3", {"preset": IA3_PRESET}),
    "full": ("full", {}),
}


@pytest.mark.parametrize("case", FORWARD_CASES)
def test_outputs_equal_the_package_forward_with_alpha_below_rank(case, tmp_path):
    algo, options = FORWARD_CASES[case]
    path = tmp_path / "models" / "Lora" / f"{case}.safetensors"
    path.parent.mkdir(parents=True)
    # alpha/rank = 0.25; the network that wrote the file stays attached to the model it was
    # built on and runs in the package's own forward pass.
    network, unet, text_encoder = write_lycoris_file(path, algo, dim=4, alpha=1, **options)
    network.set_multiplier(MULTIPLIER)
    ours_unet, ours_te = apply_with_extension(tmp_path / "models", case, MULTIPLIER)
    plain_unet, plain_te = fresh_parts()

    torch.manual_seed(3)
    ids = torch.randint(0, 1000, (1, 12))
    latents, timestep = torch.randn(1, 4, 16, 16), torch.tensor([500])
    with torch.no_grad():
        hidden = plain_te(ids)[0]
        outputs = [
            (te(ids)[0], u(latents, timestep, encoder_hidden_states=hidden).sample)
            for te, u in ((text_encoder, unet), (ours_te, ours_unet), (plain_te, plain_unet))
        ]
    (ref_text, ref_noise), (our_text, our_noise), (base_text, base_noise) = outputs

    text_diff, noise_diff = (our_text - ref_text).abs().max().item(), (our_noise - ref_noise).abs().max().item()
    print(f"{case}: output diff text {text_diff:.3g}, unet {noise_diff:.3g}")
    assert (ref_noise - base_noise).abs().max() > 1e-3 and (ref_text - base_text).abs().max() > 1e-3
    assert text_diff <= 1e-4 * max(1.0, ref_text.abs().max().item())
    assert noise_diff <= 1e-4 * max(1.0, ref_noise.abs().max().item())
