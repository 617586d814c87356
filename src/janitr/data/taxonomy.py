"""The label taxonomy shipped with the package (`resources/taxonomy.json`).

Holds the list of known raw labels and the legacy aliases older rows may use. It says nothing
about how labels map to training classes; that is `janitr.data.labels`.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources


@cache
def load_taxonomy() -> dict:
    """Return the taxonomy document: `{"name", "groups": {group: [label]}, "legacy_aliases"}`."""
    text = resources.files("janitr").joinpath("resources/taxonomy.json").read_text("utf-8")
    return json.loads(text)


@cache
def known_labels() -> frozenset[str]:
    """Every label a row may carry: the taxonomy's labels plus legacy aliases."""
    tax = load_taxonomy()
    labels = {label for group in tax["groups"].values() for label in group}
    return frozenset(labels | set(tax.get("legacy_aliases", {})))


def label_group(label: str) -> str | None:
    """The taxonomy group a label belongs to (aliases resolved), or None if unknown."""
    tax = load_taxonomy()
    label = tax.get("legacy_aliases", {}).get(label, label)
    for group, labels in tax["groups"].items():
        if label in labels:
            return group
    return None
