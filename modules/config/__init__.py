"""Command-line flags, paths and settings."""
