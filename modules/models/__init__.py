"""Checkpoints on disk: discovery, hashing, offline loading, switching."""
