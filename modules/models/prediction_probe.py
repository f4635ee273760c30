"""Is an SD 2.x UNet a v-prediction model? Its tensor names do not say, so A1111 asks the UNet
once: at the last timestep, on a flat grey latent and a flat context, an epsilon model's output
stays near its input while a v model's falls far below it. Same probe, same threshold, on the
diffusers UNet."""

import torch


def predicts_v(unet) -> bool:
    device, dtype = unet.device, unet.dtype
    width = unet.config.cross_attention_dim
    context = torch.full((1, 2, width), 0.5, device=device, dtype=dtype)
    x = torch.full((1, unet.config.in_channels, 8, 8), 0.5, device=device, dtype=dtype)
    with torch.inference_mode():
        out = unet(x, torch.tensor([999], device=device), encoder_hidden_states=context).sample
    return float((out.float() - x.float()).mean()) < -1
