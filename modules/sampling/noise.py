"""Seeds and initial noise: one generator per image, so a seed means the same picture whatever
else is in the batch; with the default "CPU" source also whatever the device.

A1111's seed features live here too: variation seeds (slerp towards a second seed's noise),
resize-seed-from (the noise a seed gives at another size, placed centred), and the RNG source."""

import dataclasses
import random

import torch

from modules.errors import UnsupportedHere

MAX_SEED = 2**32 - 1
RNG_SOURCES = ("CPU", "GPU")
# Above this cosine two vectors are treated as parallel: sin(omega) is too small to divide by.
_PARALLEL_DOT = 0.9995


def pick_seed(seed: int) -> int:
    return random.randint(0, MAX_SEED) if seed is None or seed < 0 else int(seed)


def make_generator(seed: int, source: str = "CPU", device="cpu") -> torch.Generator:
    """A generator seeded with `seed`. "CPU" ignores `device` on purpose: the CPU stream is the
    same on every machine, which is what makes a shared seed reproducible."""
    source = (source or "CPU").upper()
    if source == "CPU":
        return torch.Generator(device="cpu").manual_seed(int(seed))
    if source == "GPU":
        device = torch.device(device)
        # Falling back to the CPU silently would give a different picture than the infotext promises.
        if device.type == "cpu":
            raise UnsupportedHere("RNG source 'GPU' needs the model on a GPU device, got 'cpu'; use RNG source 'CPU'")
        if device.type == "cuda" and not torch.cuda.is_available():
            raise UnsupportedHere("RNG source 'GPU' needs CUDA, which is not available here; use RNG source 'CPU'")
        return torch.Generator(device=device).manual_seed(int(seed))
    if source == "NV":
        raise UnsupportedHere(
            "RNG source 'NV' (A1111's Philox NVIDIA-compatible RNG) is not supported; use 'CPU' or 'GPU'"
        )
    raise ValueError(f"unknown RNG source {source!r}; expected one of {', '.join(RNG_SOURCES)}")


def generators_for(seeds: list[int], *, source: str = "CPU", device="cpu") -> list[torch.Generator]:
    return [make_generator(seed, source, device) for seed in seeds]


def _randn(generator: torch.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.randn((1, *shape), generator=generator, device=generator.device, dtype=torch.float32)


def initial_noise(generators: list[torch.Generator], shape: tuple[int, int, int]) -> torch.Tensor:
    """(batch, C, H, W) fp32 noise on the generators' device (the CPU by default); the caller
    moves it to the model's device and dtype."""
    return torch.cat([_randn(g, shape) for g in generators])


def slerp(val: float, low: torch.Tensor, high: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Spherical interpolation from `low` (val=0) to `high` (val=1).

    dim=None: each sample along dim 0 is one flattened vector. An int: the vectors lie along
    that axis; A1111 interpolates each image's (C, H, W) noise along dim=1, so the variation
    noise uses that to give A1111's pictures. Near-parallel vectors fall back to linear."""
    if dim is None:
        flat = slerp(val, low.reshape(low.shape[0], -1), high.reshape(high.shape[0], -1), dim=1)
        return flat.reshape(low.shape)
    low_unit = low / low.norm(dim=dim, keepdim=True)
    high_unit = high / high.norm(dim=dim, keepdim=True)
    dot = (low_unit * high_unit).sum(dim, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    # The weights apply to the unnormalised tensors, as A1111 does, so norms blend too.
    spherical = torch.sin((1.0 - val) * omega) / sin_omega * low + torch.sin(val * omega) / sin_omega * high
    linear = (1.0 - val) * low + val * high
    # torch.where picks per vector; the spherical branch may hold NaN (0/0) where it is not chosen.
    return torch.where(dot > _PARALLEL_DOT, linear, spherical)


def _place_centred(noise: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Copy the centred overlap of (C, h, w) `noise` into (C, H, W) `target` in place.

    A1111's placement: offsets are (target - source) // 2 (floor division, so with an odd
    difference a smaller source sits one pixel nearer the top/left, and a larger source is
    cropped one pixel more at the top/left); the copied window is the source size when it fits,
    otherwise source + 2 * offset."""
    offsets = []
    for axis in (1, 2):
        delta = (target.shape[axis] - noise.shape[axis]) // 2
        size = noise.shape[axis] if delta >= 0 else noise.shape[axis] + 2 * delta
        offsets.append((max(delta, 0), max(-delta, 0), size))
    (ty, sy, h), (tx, sx, w) = offsets
    target[:, ty : ty + h, tx : tx + w] = noise[:, sy : sy + h, sx : sx + w]
    return target


def initial_noise_with_variation(
    seeds: list[int],
    subseeds: list[int] | None,
    subseed_strength: float,
    shape: tuple[int, int, int],
    seed_resize_from: tuple[int, int] | None = None,
    *,
    source: str = "CPU",
    device="cpu",
    generators: list[torch.Generator] | None = None,
) -> torch.Tensor:
    """(batch, C, H, W) fp32 noise with A1111's variation seed and resize-seed-from.

    seed_resize_from is a latent (h, w); None, a non-positive size or the target size means none.
    The variation is blended at the `from` size, then placed centred; the rest of the target
    comes from the seed's own noise at the target size.

    Pass `generators` (from generators_for(seeds)) to draw each seed's target-size noise from them,
    so they end in the same state as after initial_noise and can go on to the sampler."""
    shape = tuple(int(n) for n in shape)
    if generators is None:
        generators = generators_for(seeds, source=source, device=device)
    if len(generators) != len(seeds):
        raise ValueError(f"{len(generators)} generators for {len(seeds)} seeds")
    varied = subseed_strength > 0
    if varied and (subseeds is None or len(subseeds) != len(seeds)):
        raise ValueError(f"variation needs one subseed per seed: got {subseeds!r} for {len(seeds)} seeds")
    from_shape = shape
    if seed_resize_from is not None and min(seed_resize_from) > 0:
        from_shape = (shape[0], int(seed_resize_from[0]), int(seed_resize_from[1]))
    resized = from_shape != shape

    images = []
    for index, (seed, generator) in enumerate(zip(seeds, generators, strict=True)):
        # Always one target-size draw from the image's generator, whatever the options, so its
        # state afterwards (used by ancestral samplers) does not depend on them.
        target_noise = _randn(generator, shape)[0]
        noise = _randn(make_generator(seed, source, device), from_shape)[0] if resized else target_noise
        if varied:
            subnoise = _randn(make_generator(subseeds[index], source, device), from_shape)[0]
            # The ends are exact copies rather than float slerp results, so strength 1 is the variation seed.
            noise = subnoise if subseed_strength >= 1 else slerp(subseed_strength, noise, subnoise, dim=1)
        if resized:
            noise = _place_centred(noise, target_noise.clone())
        images.append(noise)
    return torch.stack(images)


@dataclasses.dataclass
class SeedPlan:
    """The seeds of one job as A1111 assigns them; -1 (or None) picks a random one, once.

    Image i of the whole job (batch_index * batch_size + k) gets subseed + i. Its seed is seed + i,
    except with a variation strength > 0, where every image keeps `seed` (A1111's behaviour: a
    batch then shows variations of one picture). Sizes are pixels, like A1111's settings."""

    seed: int = -1
    subseed: int = -1
    subseed_strength: float = 0.0
    seed_resize_from_h: int = 0
    seed_resize_from_w: int = 0
    batch_size: int = 1
    batch_index: int = 0

    def __post_init__(self):
        self.seed = pick_seed(self.seed)
        self.subseed = pick_seed(self.subseed)

    def for_batch(self, batch_index: int) -> "SeedPlan":
        """The same job (seeds already fixed) at another batch."""
        return dataclasses.replace(self, batch_index=batch_index)

    def _first_index(self) -> int:
        return self.batch_index * self.batch_size

    @property
    def seeds(self) -> list[int]:
        step = 0 if self.subseed_strength > 0 else 1
        return [self.seed + step * (self._first_index() + k) for k in range(self.batch_size)]

    @property
    def subseeds(self) -> list[int]:
        return [self.subseed + self._first_index() + k for k in range(self.batch_size)]

    def seed_resize_from(self, scale_factor: int = 8) -> tuple[int, int] | None:
        """The latent (h, w) to generate at, or None when resize-seed-from is off."""
        if self.seed_resize_from_h <= 0 or self.seed_resize_from_w <= 0:
            return None
        return self.seed_resize_from_h // scale_factor, self.seed_resize_from_w // scale_factor

    def noise(self, shape: tuple[int, int, int], *, scale_factor: int = 8, source: str = "CPU", device="cpu",
              generators: list[torch.Generator] | None = None) -> torch.Tensor:  # fmt: skip
        return initial_noise_with_variation(
            self.seeds,
            self.subseeds,
            self.subseed_strength,
            shape,
            self.seed_resize_from(scale_factor),
            source=source,
            device=device,
            generators=generators,
        )
