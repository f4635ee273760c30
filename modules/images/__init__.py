"""Infotext, saving and image helpers."""
