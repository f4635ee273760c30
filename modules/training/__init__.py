"""Training: the trainer, procedural datasets and the demo model recipe."""
