"""A1111's v-prediction probe for SD 2.x files that do not say: the UNet's output on a flat grey
latent at the last timestep, minus that latent, averages below -1 for a v model."""

import torch
from diffusers import UNet2DConditionModel

from modules.models.prediction_probe import predicts_v
from tests.fixtures.tiny_families import SD2_UNET_CONFIG


def unet_with_output_bias(bias: float) -> UNet2DConditionModel:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(**SD2_UNET_CONFIG).eval()
    with torch.no_grad():  # the output is exactly `bias` everywhere
        unet.conv_out.weight.zero_()
        unet.conv_out.bias.fill_(bias)
    return unet


def test_an_output_far_below_the_input_reads_as_v_prediction():
    assert predicts_v(unet_with_output_bias(-1.0))  # -1 - 0.5 = -1.5 < -1
    assert not predicts_v(unet_with_output_bias(0.0))  # -0.5: epsilon
    assert not predicts_v(unet_with_output_bias(-0.4))  # -0.9: just above the threshold
