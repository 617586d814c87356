"""Inference runtime: bundles and their scorers. Never imports torch."""
