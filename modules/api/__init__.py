"""The A1111-compatible HTTP API."""
