"""Reproducible runs: config, the stage runner, run registry, sweeps, reports."""
