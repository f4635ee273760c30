import pytest
import torch

from modules.errors import UnsupportedHere
from modules.sampling import noise
from modules.sampling.noise import SeedPlan, initial_noise_with_variation, slerp

SHAPE = (4, 8, 8)


def plain(seed, shape=SHAPE):
    return noise.initial_noise(noise.generators_for([seed]), shape)[0]


def test_image_k_of_a_batch_equals_its_seed_alone():
    seeds = [5, 6, 7]
    batch = noise.initial_noise(noise.generators_for(seeds), SHAPE)
    varied_batch = initial_noise_with_variation(seeds, [10, 11, 12], 0.3, SHAPE)
    for k, seed in enumerate(seeds):
        assert torch.equal(batch[k], plain(seed))
        assert torch.equal(varied_batch[k], initial_noise_with_variation([seed], [10 + k], 0.3, SHAPE)[0])


def test_noise_is_deterministic_across_calls():
    first = initial_noise_with_variation([1, 2], [3, 4], 0.4, SHAPE, (6, 6))
    assert torch.equal(first, initial_noise_with_variation([1, 2], [3, 4], 0.4, SHAPE, (6, 6)))


def test_strength_ends_are_exactly_the_two_seeds():
    assert torch.equal(initial_noise_with_variation([1], [2], 0.0, SHAPE)[0], plain(1))
    assert torch.equal(initial_noise_with_variation([1], None, 0.0, SHAPE)[0], plain(1))
    assert torch.equal(initial_noise_with_variation([1], [2], 1.0, SHAPE)[0], plain(2))


def test_half_strength_differs_from_both_and_keeps_unit_std():
    shape = (4, 64, 64)
    mixed = initial_noise_with_variation([1], [2], 0.5, shape)[0]
    assert not torch.allclose(mixed, plain(1, shape))
    assert not torch.allclose(mixed, plain(2, shape))
    assert abs(mixed.std().item() - 1.0) < 0.1


def test_generators_end_in_the_same_state_as_plain_noise():
    # Ancestral samplers keep drawing from these generators after the initial noise.
    used_plain = noise.generators_for([9])
    noise.initial_noise(used_plain, SHAPE)
    used_varied = noise.generators_for([9])
    initial_noise_with_variation([9], [3], 0.5, SHAPE, (4, 4), generators=used_varied)
    assert torch.equal(torch.randn(5, generator=used_plain[0]), torch.randn(5, generator=used_varied[0]))


def test_slerp_of_identical_vectors_returns_them():
    x = torch.randn(3, 4, 5, generator=torch.Generator().manual_seed(0))
    for dim in (None, 1):
        for val in (0.0, 0.3, 0.5, 1.0):
            assert torch.allclose(slerp(val, x, x.clone(), dim=dim), x, atol=1e-6)


def test_slerp_per_sample_matches_the_formula():
    low = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    high = torch.tensor([[0.0, 3.0], [2.0, 0.0]])
    # Orthogonal: omega = pi/2, so the weights are cos(val*pi/2) and sin(val*pi/2).
    result = slerp(1 / 3, low, high)
    c, s = torch.cos(torch.tensor(torch.pi / 6)), torch.sin(torch.tensor(torch.pi / 6))
    assert torch.allclose(result, c * low + s * high)


def test_resize_from_the_same_size_is_plain_noise():
    assert torch.equal(initial_noise_with_variation([4], None, 0.0, SHAPE, (8, 8))[0], plain(4))
    assert torch.equal(initial_noise_with_variation([4], None, 0.0, SHAPE, None)[0], plain(4))
    assert torch.equal(initial_noise_with_variation([4], None, 0.0, SHAPE, (0, 0))[0], plain(4))


def test_resize_from_smaller_places_it_centred_over_target_noise():
    # 4x4 into 8x8: offset (8 - 4) // 2 = 2, so rows and columns 2..5 are the 4x4 noise.
    placed = initial_noise_with_variation([4], None, 0.0, (4, 8, 8), (4, 4))[0]
    small, big = plain(4, (4, 4, 4)), plain(4, (4, 8, 8))
    assert torch.equal(placed[:, 2:6, 2:6], small)
    outside = torch.ones(8, 8, dtype=torch.bool)
    outside[2:6, 2:6] = False
    assert torch.equal(placed[:, outside], big[:, outside])


def test_resize_from_larger_crops_its_centre_with_floor_offsets():
    # 8x8 into 4x4: centre crop rows/columns 2..5.
    cropped = initial_noise_with_variation([4], None, 0.0, (4, 4, 4), (8, 8))[0]
    assert torch.equal(cropped, plain(4, (4, 8, 8))[:, 2:6, 2:6])
    # 8 into 5 (odd difference): offset (5 - 8) // 2 = -2, window 8 - 4 = 4 wide: source 2..5
    # lands at 0..3 and the last row/column stays the 5x5 target noise.
    odd = initial_noise_with_variation([4], None, 0.0, (4, 5, 5), (8, 8))[0]
    assert torch.equal(odd[:, :4, :4], plain(4, (4, 8, 8))[:, 2:6, 2:6])
    assert torch.equal(odd[:, 4, :], plain(4, (4, 5, 5))[:, 4, :])


def test_variation_is_blended_at_the_from_size():
    placed = initial_noise_with_variation([4], [7], 1.0, (4, 8, 8), (4, 4))[0]
    assert torch.equal(placed[:, 2:6, 2:6], plain(7, (4, 4, 4)))
    assert torch.equal(placed[:, 0, :], plain(4, (4, 8, 8))[:, 0, :])


def test_seed_plan_second_batch_of_three():
    plan = SeedPlan(seed=100, subseed=200, batch_size=3, batch_index=1)
    assert plan.seeds == [103, 104, 105]
    assert plan.subseeds == [203, 204, 205]
    assert plan.seed_resize_from() is None


def test_seed_plan_with_variation_keeps_the_seed_and_steps_the_subseed():
    plan = SeedPlan(seed=100, subseed=200, subseed_strength=0.5, batch_size=3, batch_index=1,
                    seed_resize_from_h=512, seed_resize_from_w=256)  # fmt: skip
    assert plan.seeds == [100, 100, 100]
    assert plan.subseeds == [203, 204, 205]
    assert plan.seed_resize_from() == (64, 32)
    assert plan.noise((4, 8, 8)).shape == (3, 4, 8, 8)


def test_seed_plan_picks_random_seeds_once():
    plan = SeedPlan(seed=-1, subseed=-1, batch_size=2)
    assert 0 <= plan.seed <= noise.MAX_SEED and 0 <= plan.subseed <= noise.MAX_SEED
    later = plan.for_batch(1)
    assert later.seeds == [plan.seed + 2, plan.seed + 3]
    assert later.subseeds == [plan.subseed + 2, plan.subseed + 3]


def test_cpu_source_ignores_the_device_and_unknown_sources_are_refused():
    assert torch.equal(torch.randn(4, generator=noise.make_generator(3, "CPU", "cuda")),
                       torch.randn(4, generator=torch.Generator().manual_seed(3)))  # fmt: skip
    # Valid names this machine cannot serve (a server-side limit, 5xx), unlike an unknown name.
    with pytest.raises(UnsupportedHere, match="RNG source 'GPU'"):
        noise.make_generator(3, "GPU", "cpu")
    with pytest.raises(UnsupportedHere, match="NV"):
        noise.make_generator(3, "NV", "cpu")
    with pytest.raises(ValueError, match="unknown RNG source"):
        noise.make_generator(3, "TPU", "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_gpu_source_without_cuda_says_so():
    with pytest.raises(UnsupportedHere, match="CUDA"):
        noise.initial_noise_with_variation([1], None, 0.0, SHAPE, source="GPU", device="cuda")
