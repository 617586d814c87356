"""Metrics, threshold tuning and the one evaluation path for every bundle."""
