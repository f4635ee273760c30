"""Outpainting mk2's fill for the new area: noise whose spectrum follows the picture's and whose
colours follow the picture's histogram (A1111 v1.10's get_matched_noise, after g-diffuser-bot),
with numpy only.

How: the known part of the picture (the unmasked pixels, the masked ones set to its mean colour)
gives a magnitude spectrum and a phase. Uniform noise, mostly grey (`color_variation` of it keeps
its own colour), is low-pass shaped by a smooth window, and its power spectrum is given the
picture's magnitude raised to `fall_off` (lower = more detail) and the picture's phase. The result
is stretched to 0..1, its masked pixels histogram-matched per channel to the known pixels, and laid
into the masked area; unmasked pixels stay the picture's own.
"""

import numpy as np

# A fixed noise seed, as A1111: the fill depends only on the picture and the knobs, and the
# generation's own seed decides the rest.
NOISE_SEED = 0


def _fft(data: np.ndarray) -> np.ndarray:
    """Centred, orthonormal 2-D FFT over the first two axes."""
    return np.fft.ifftshift(np.fft.fft2(np.fft.fftshift(data, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1))


def _ifft(data: np.ndarray) -> np.ndarray:
    return np.fft.ifftshift(np.fft.ifft2(np.fft.fftshift(data, axes=(0, 1)), axes=(0, 1), norm="ortho"), axes=(0, 1))


def _falloff_window(height: int, width: int) -> np.ndarray:
    """A smooth low-pass window 1 / ((x^2 + 1)(y^2 + 1)), coordinates -1..1 stretched to the aspect."""
    shortest = min(height, width)
    ys = (np.arange(height) / height * 2.0 - 1.0) * (height / shortest)
    xs = (np.arange(width) / width * 2.0 - 1.0) * (width / shortest)
    return 1.0 / ((ys[:, None] ** 2 + 1.0) * (xs[None, :] ** 2 + 1.0))


def match_histogram(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`values` (n,) remapped so their distribution is `reference`'s (m,): each value goes to the
    reference value at the same quantile (linear between the reference's distinct values)."""
    if values.size == 0 or reference.size == 0:
        return values
    distinct, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ref_distinct, ref_counts = np.unique(reference, return_counts=True)
    quantiles = np.cumsum(counts) / values.size
    ref_quantiles = np.cumsum(ref_counts) / reference.size
    return np.interp(quantiles, ref_quantiles, ref_distinct)[inverse.reshape(-1)]


def matched_noise(picture: np.ndarray, mask: np.ndarray, fall_off: float = 1.0, color_variation: float = 0.05,
                  seed: int = NOISE_SEED) -> np.ndarray:  # fmt: skip
    """`picture` (h, w, 3) floats 0..1 with its masked area (`mask` (h, w), 1 = new) filled with
    matched noise; unmasked pixels (mask 0) come back unchanged. Floats 0..1."""
    picture = np.asarray(picture, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    if mask.ndim == 3:
        mask = mask.mean(axis=2)
    if picture.shape[:2] != mask.shape:
        raise ValueError(f"picture {picture.shape[:2]} and mask {mask.shape} differ in size")
    height, width, channels = picture.shape
    mask3 = mask[..., None]
    new_area = mask > 1e-6
    reference_area = mask < 1e-3

    known = picture * (1.0 - mask3)
    peak = known.max()
    if peak > 0:
        known = known / peak
    known = known + picture.mean() * mask3  # the hole at the mean colour spreads less into the spectrum
    spectrum = _fft(known)
    magnitude = np.abs(spectrum)
    with np.errstate(divide="ignore", invalid="ignore"):
        phase = np.where(magnitude > 0, spectrum / magnitude, 0)

    rng = np.random.default_rng(seed)
    noise = rng.random((height, width, channels))
    grey = noise.mean(axis=2, keepdims=True)
    noise = noise * color_variation + (1.0 - color_variation) * grey
    noise = np.real(_ifft(_fft(noise) * _falloff_window(height, width)[..., None]))
    shaped = np.real(_ifft(np.abs(_fft(noise)) ** 2 * magnitude**fall_off * phase))
    shaped -= shaped.min()
    top = shaped.max()
    if top > 0:
        shaped /= top

    if new_area.any() and reference_area.any():
        for channel in range(channels):
            shaped[..., channel][new_area] = match_histogram(shaped[..., channel][new_area],
                                                             picture[..., channel][reference_area])  # fmt: skip
    filled = picture * (1.0 - mask3) + shaped * mask3
    return np.clip(filled, 0.0, 1.0)
