"""The prompt language and its conditioning."""
