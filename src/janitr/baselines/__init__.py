"""Baseline model families: fastText and a word + char n-gram linear model."""
