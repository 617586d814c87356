"""The base of every config dataclass: building one from plain data, unknown keys rejected.

Stage configs (`FastTextConfig`, `StudentConfig`, ...) and the pipeline config both build on
this; it imports nothing above `janitr.errors`, so any layer may use it.
"""

from __future__ import annotations

from dataclasses import fields

from janitr.errors import ConfigError


def dataclass_from_dict(cls, data: dict, *, what: str):
    """Build a stage config dataclass from a dict, rejecting unknown keys.

    A typo in a key must not be silently ignored, so unknown keys are an error naming them
    and the known ones.

    Raises:
        ConfigError: on unknown keys (or invalid values, from the dataclass itself).
    """
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown {what} config key(s) {unknown} (known: {sorted(known)})")
    return cls(**data)
