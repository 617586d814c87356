"""Data: records, labels, normalization, validation, splits, leakage, frozen benchmarks."""
