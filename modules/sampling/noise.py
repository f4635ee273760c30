"""Seeds and initial noise: one CPU generator per image, so a seed means the same picture
whatever the device and whatever else is in the batch."""

import random

import torch

MAX_SEED = 2**32 - 1


def pick_seed(seed: int) -> int:
    return random.randint(0, MAX_SEED) if seed is None or seed < 0 else int(seed)


def generators_for(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(int(seed)) for seed in seeds]


def initial_noise(generators: list[torch.Generator], shape: tuple[int, int, int]) -> torch.Tensor:
    """(batch, C, H, W) noise in fp32 on the CPU; the caller moves it to the device."""
    return torch.cat([torch.randn((1, *shape), generator=g, dtype=torch.float32) for g in generators])
