"""Janitr: a local-first classifier for crypto scams and crypto-topic posts on X.

    >>> from janitr import Classifier
    >>> clf = Classifier.load("runs/demo/bundles/student-int8")
    >>> clf.predict(["claim your free airdrop now"])[0].label

Importing the package is cheap and side-effect free; heavy dependencies load on first use.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["Classifier", "__version__"]


def __getattr__(name: str):
    if name == "Classifier":
        from janitr.runtime.classifier import Classifier

        return Classifier
    raise AttributeError(f"module 'janitr' has no attribute {name!r}")
