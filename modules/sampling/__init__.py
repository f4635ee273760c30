"""Sampler catalog, seeds and noise, and the denoising loop."""
