"""Skip markers for tests that need the `train` extra (the fast tier also runs on `.[dev]`)."""

from __future__ import annotations

import importlib.util

import pytest


def needs(*modules: str, extra: str = "train") -> pytest.MarkDecorator:
    """Skip unless every module is importable, e.g. `@needs("sentencepiece")`, or
    `@needs("cleanlab", extra="audit")`."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(
        bool(missing), reason=f"needs {', '.join(missing)} (pip install 'janitr[{extra}]')"
    )
