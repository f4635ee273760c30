"""Token merging on a real (tiny) diffusers UNet whose top level has self-attention: ratio 0.5
changes the prediction, removing the patch gives the exact original output back."""

import pytest
import torch
from diffusers import UNet2DConditionModel

from modules.sampling.token_merging import (
    apply_token_merging,
    first_pass_ratio,
    hires_ratio,
    is_merging,
    merged_tokens,
    remove_token_merging,
)

# Self-attention at the level without downsampling: the level token merging works on.
TOP_ATTENTION_UNET = {
    "sample_size": 16,
    "block_out_channels": [32, 64],
    "layers_per_block": 1,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
    "cross_attention_dim": 32,
    "attention_head_dim": 8,
    "norm_num_groups": 16,
}


@pytest.fixture(scope="module")
def unet():
    torch.manual_seed(0)
    return UNet2DConditionModel(**TOP_ATTENTION_UNET).eval()


@pytest.fixture(scope="module")
def inputs():
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 4, 16, 16, generator=generator), torch.randn(2, 77, 32, generator=generator)


def predict(unet, inputs, by_keyword: bool = False):
    sample, context = inputs
    with torch.inference_mode():
        if by_keyword:
            return unet(sample=sample, timestep=10, encoder_hidden_states=context).sample
        return unet(sample, 10, encoder_hidden_states=context).sample


def test_half_the_tokens_merged_changes_the_prediction_and_removal_restores_it(unet, inputs):
    original = predict(unet, inputs)
    apply_token_merging(unet, 0.5)
    try:
        assert is_merging(unet)
        merged = predict(unet, inputs)
        assert torch.equal(predict(unet, inputs, by_keyword=True), merged)  # the size hook reads either
    finally:
        remove_token_merging(unet)
    assert not is_merging(unet)
    assert torch.isfinite(merged).all()
    difference = (merged - original).abs()
    assert difference.max() > 1e-3  # a different prediction...
    assert difference.mean() < original.abs().mean()  # ...of the same picture, not noise
    assert torch.equal(predict(unet, inputs), original)  # exactly the untouched UNet again
    leftovers = [name for name, module in unet.named_modules() if "_tome_info" in module.__dict__]
    assert leftovers == []


def test_ratio_zero_and_the_context_manager_leave_the_unet_untouched(unet, inputs):
    original = predict(unet, inputs)
    apply_token_merging(unet, 0.0)
    assert not is_merging(unet)
    with pytest.raises(RuntimeError, match="boom"):
        with merged_tokens(unet, 0.3):
            assert is_merging(unet)
            raise RuntimeError("boom")
    assert not is_merging(unet)
    assert torch.equal(predict(unet, inputs), original)


def test_ratio_outside_its_range_is_refused(unet):
    with pytest.raises(ValueError, match="between 0 and 0.9"):
        apply_token_merging(unet, 0.95)
    assert not is_merging(unet)


def test_which_ratio_a_pass_uses_follows_a1111():
    settings = {"token_merging_ratio": 0.2, "token_merging_ratio_img2img": 0.4, "token_merging_ratio_hr": 0.0}
    assert first_pass_ratio(settings, {}, img2img=False) == 0.2
    assert first_pass_ratio(settings, {}, img2img=True) == 0.4
    # A request overriding the general ratio wins over the img2img setting, as in A1111.
    assert first_pass_ratio(settings, {"token_merging_ratio": 0.2}, img2img=True) == 0.2
    assert first_pass_ratio({**settings, "token_merging_ratio_img2img": 0.0}, {}, img2img=True) == 0.2
    assert hires_ratio(settings) == 0.2
    assert hires_ratio({**settings, "token_merging_ratio_hr": 0.6}) == 0.6
