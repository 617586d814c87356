"""The one list of verb groups: `janitr`'s help shows their verbs in this order.

A verb group is a module of `janitr.cli` with a `register(subparsers)` function that adds
its verbs. Adding a group is one line here: its module name in `VERB_GROUPS`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Modules of `janitr.cli`, each with `register(subparsers)`, in help order.
VERB_GROUPS: tuple[str, ...] = (
    "data",
    "train",
    "evaluate",
    "ship",
    "runs",
    "audit",
    "score",
)


def verb_groups() -> list[ModuleType]:
    """The modules of `VERB_GROUPS`, imported (each imports only argparse-level code)."""
    return [importlib.import_module(f"janitr.cli.{name}") for name in VERB_GROUPS]
