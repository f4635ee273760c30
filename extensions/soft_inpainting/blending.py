"""The per-step latent blend of soft inpainting (A1111 v1.10's semantics, our code).

Plain inpainting takes `init * mask + denoised * nmask` each step. Soft inpainting instead
1. weakens the partial parts of the mask more while the noise is high: the inpaint weight is
   `nmask ** (sigma ** power * scale)` (a pixel at 0.5 of a soft edge is mostly the original at
   high sigma and mostly the generated picture near the end), and
2. interpolates the two latents so the result keeps their magnitude (a plain lerp of two unlike
   vectors is shorter than either, which washes the colours out along the soft edge).
"""

import torch

# Added to the interpolated magnitude before dividing by it, as A1111 does (a zero vector stays zero).
MAGNITUDE_EPSILON = 1e-5


def modified_nmask(nmask: torch.Tensor, sigma, power: float, scale: float) -> torch.Tensor:
    """The inpaint weight for noise level `sigma` (a number, or one per image: shape (batch,)):
    `nmask ** (sigma ** power * scale)`. Where `nmask` is exactly 0 the weight stays 0 (A1111's
    formula gives 0 ** 0 = 1 there when `scale` is 0, which would repaint the whole picture)."""
    sigma = torch.as_tensor(sigma, dtype=torch.float32, device=nmask.device)
    if sigma.ndim == 1:  # per image: broadcast over channels and pixels
        sigma = sigma.reshape(-1, *([1] * (nmask.ndim - 1)))
    exponent = (sigma**power * scale).to(nmask.dtype)
    weight = torch.pow(nmask, exponent)
    return torch.where(nmask > 0, weight, torch.zeros_like(weight))


def latent_blend(init: torch.Tensor, denoised: torch.Tensor, weight: torch.Tensor, detail: float) -> torch.Tensor:
    """`init` and `denoised` (batch, channels, h, w) interpolated by `weight` (1 = denoised), with
    each latent pixel's length (over channels) set to the `detail`-power mean of the two lengths:
    `((1 - w) |init| ** d + w |denoised| ** d) ** (1 / d)`. `detail` 1 interpolates the lengths
    linearly; higher values lean towards the longer of the two (more contrast kept)."""
    weight = weight.to(denoised.dtype)
    per_pixel = weight[:, :1] if weight.ndim == 4 and weight.shape[1] > 1 else weight  # one weight per pixel
    mixed = init * (1 - weight) + denoised * weight
    wide = torch.float32 if mixed.device.type == "mps" else torch.float64  # large powers need the range
    length = torch.linalg.vector_norm(mixed, dim=1, keepdim=True).to(wide) + MAGNITUDE_EPSILON
    init_power = torch.linalg.vector_norm(init, dim=1, keepdim=True).to(wide) ** detail
    denoised_power = torch.linalg.vector_norm(denoised, dim=1, keepdim=True).to(wide) ** detail
    wanted = (init_power * (1 - per_pixel.to(wide)) + denoised_power * per_pixel.to(wide)) ** (1.0 / detail)
    return mixed * (wanted / length).to(mixed.dtype)
