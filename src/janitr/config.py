"""The base of every config dataclass: documented fields, structured problems, plain data.

Every stage config (`FastTextConfig`, `TeacherConfig`, `PretrainConfig`, ...) and every
section of the pipeline config declares its fields with `option(default, help=...)`: the
help text (and, where the flag differs from the field, the flag) lives in the field's
metadata, where `janitr.cli.flags` builds the command-line flags from. Validation collects
`ConfigProblem(field, message)`s and raises them once (`raise_problems`); the CLI names each
field as its flag, the pipeline as its `section.key`. This module imports nothing above
`janitr.errors`, so any layer may use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import MISSING, Field, field, fields
from typing import Any, Self

from janitr.errors import ConfigError, ConfigProblem

__all__ = [
    "Config",
    "choice_problems",
    "ConfigError",
    "ConfigProblem",
    "dataclass_from_dict",
    "field_help",
    "non_negative",
    "option",
    "positive_ints",
    "raise_problems",
]


def option(
    default: Any = MISSING,
    *,
    help: str,
    flag: str | None = None,
    metavar: str | None = None,
    choices: Sequence[str] | None = None,
    parse: Callable[[str], Any] | None = None,
    cli: bool = True,
    default_factory: Callable[[], Any] | Any = MISSING,
    identity_default: bool = False,
) -> Any:
    """A documented config field: `dataclasses.field` with its help and flag in metadata.

    Args:
        default: the default value (or give `default_factory`).
        help: what the field means, one phrase without a final period (the flag's help; the
            CLI appends the default).
        flag: the command-line flag when it is not `--field-name` (`--threshold-rule`);
            a flag of a boolean field whose default is True and that is named like `--quiet`
            turns the field off.
        metavar: the flag's value placeholder (default: from the type, `N`, `X`, `VALUE`).
        choices: the allowed values, when the type does not say (a `Literal` does).
        parse: turns the flag's text into the value (default: from the field type).
        cli: False for a setting that has no flag (e.g. `[pretrain] enabled`, pipeline only).
        default_factory: as for `dataclasses.field`.
        identity_default: True for a switch added after runs exist: at its default it is
            left out of the stage identities that decide reuse (`in_identity`), so earlier
            runs' stages still match and `janitr sweep` reuses them; any other value is
            hashed like every field.
    """
    metadata = {"help": help, "flag": flag, "metavar": metavar, "choices": choices}
    metadata.update(parse=parse, cli=cli, identity_default=identity_default)
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def in_identity(config: object, name: str) -> bool:
    """Whether the config field `name` enters identities (stage keys, recorded model
    configs): always, except a field declared with `option(identity_default=True)` that
    holds its default."""
    f = config.__dataclass_fields__[name]
    if not f.metadata.get("identity_default"):
        return True
    default = f.default_factory() if f.default_factory is not MISSING else f.default
    return getattr(config, name) != default


def field_help(f: Field) -> str:
    """The help text of a field declared with `option` ("" for a plain field)."""
    return f.metadata.get("help", "")


def raise_problems(config: object | type, problems: Sequence[ConfigProblem]) -> None:
    """Raise one `ConfigError` carrying every problem, if there is any.

    Args:
        config: the config (or its class) whose fields the problems name.
        problems: what validation found.

    Raises:
        ConfigError: with `problems` and `config` set (nothing is raised for no problems).
    """
    if problems:
        cls = config if isinstance(config, type) else type(config)
        raise ConfigError(problems=problems, config=cls)


def choice_problems(config: object, names: Sequence[str]) -> list[ConfigProblem]:
    """A problem for each of the fields `names` of `config` whose value is not one of the
    `choices` its `option` declares."""
    declared = {f.name: f.metadata.get("choices") for f in fields(config)}
    problems = []
    for name in names:
        allowed, value = declared[name], getattr(config, name)
        if value not in allowed:
            problems.append(
                ConfigProblem(name, f"must be one of {', '.join(allowed)}, got {value!r}")
            )
    return problems


def positive_ints(config: object, names: Sequence[str]) -> list[ConfigProblem]:
    """A problem for each of the fields `names` of `config` that is not an integer >= 1."""
    problems = []
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            problems.append(ConfigProblem(name, f"must be a positive integer, got {value!r}"))
    return problems


def non_negative(config: object, names: Sequence[str]) -> list[ConfigProblem]:
    """A problem for each of the fields `names` of `config` that is not a number >= 0 (NaN
    included)."""
    problems = []
    for name in names:
        value = getattr(config, name)
        if not value >= 0:
            problems.append(ConfigProblem(name, f"must be >= 0, got {value}"))
    return problems


def dataclass_from_dict(cls, data: dict):
    """Build a config dataclass from a dict, rejecting unknown keys.

    A typo in a key must not be silently ignored, so unknown keys are a problem naming them
    and the known ones.

    Raises:
        ConfigError: on unknown keys (or invalid values, from the dataclass itself).
    """
    known = sorted(f.name for f in fields(cls))
    unknown = sorted(set(data) - set(known))
    raise_problems(
        cls, [ConfigProblem(k, f"unknown key (known: {', '.join(known)})") for k in unknown]
    )
    return cls(**data)


class Config:
    """Base of the stage config dataclasses: `from_dict`, which rejects unknown keys."""

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        """Build from a dict, rejecting unknown keys.

        Raises:
            ConfigError: on unknown keys or invalid values.
        """
        return dataclass_from_dict(cls, data)
