"""The one flag generator: command-line flags from a config dataclass's field metadata.

Each field declared with `janitr.config.option(default, help=...)` becomes one flag:
`--field-name` (or the metadata's `flag`), typed from the field's annotation (`int`, `float`,
`str`, `X | None`, `tuple[int, ...]` as comma-separated values, `dict[str, str]` as a
repeatable `KEY=VALUE`), choices from the metadata, booleans as `--x/--no-x`, and a boolean
that defaults to True with a flag like `--quiet` as the switch that turns it off. A flag left
off the command line keeps the dataclass's default: `build_config` builds the config from
the flags given. `flag_name` names a field as its flag, which is how `janitr.cli.main` shows
a `ConfigError`'s problems. Also here: the few flags shared by verbs that have no config
class (`--quiet`, `--bundle-id`).
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from collections.abc import Callable
from typing import Any, Literal

from janitr.config import field_help

#: Prefix of the argparse dests of generated flags: `cfg:<ClassName>:<field>`.
DEST_PREFIX = "cfg:"

#: Words that spell "no value" for an optional (`X | None`) field.
NONE_WORDS = ("none", "")


def flag_name(cls: type, name: str) -> str:
    """The flag of field `name` of config class `cls` (`--name-with-dashes` by default)."""
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    f = by_name.get(name)
    flag = f.metadata.get("flag") if f is not None else None
    return flag or "--" + name.replace("_", "-")


def _dest(cls: type, name: str) -> str:
    return f"{DEST_PREFIX}{cls.__name__}:{name}"


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """`(X, True)` for `X | None`, `(tp, False)` otherwise."""
    args = typing.get_args(tp)
    if type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None)), True
    return tp, False


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse_optional(text: str) -> Any:
        return None if text.strip().lower() in NONE_WORDS else parse(text)

    parse_optional.__name__ = getattr(parse, "__name__", "value")  # argparse's error names it
    return parse_optional


def _comma_list(item: Callable[[str], Any]) -> Callable[[str], tuple]:
    def parse_list(text: str) -> tuple:
        try:
            return tuple(item(s.strip()) for s in text.split(",") if s.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated {getattr(item, '__name__', 'value')}s, got {text!r}"
            ) from None

    return parse_list


def key_value(text: str) -> tuple[str, str]:
    """`KEY=VALUE` as a pair (a repeatable dict flag's item)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _spec(f: dataclasses.Field, tp: Any) -> dict[str, Any]:
    """argparse keyword arguments of one field (without dest, default and help)."""
    meta = f.metadata
    inner, optional = _unwrap_optional(tp)
    origin = typing.get_origin(inner)
    spec: dict[str, Any] = {}
    if inner is bool:
        if f.default is True and meta.get("flag"):
            return {"action": "store_false"}  # an off switch: `progress` as `--quiet`
        return {"action": argparse.BooleanOptionalAction}
    if origin is Literal:
        spec["choices"] = typing.get_args(inner)
    elif origin is tuple or origin is list:
        item = (typing.get_args(inner) or (str,))[0]
        spec["type"] = _comma_list(item)
        spec["metavar"] = "A,B"
    elif origin is dict:
        spec.update(type=key_value, action="append", metavar="KEY=VALUE")
    elif inner in (int, float):
        spec["type"] = inner
        spec["metavar"] = "N" if inner is int else "X"
    else:
        spec["metavar"] = "VALUE"
    if meta.get("parse"):
        spec["type"] = meta["parse"]
    if optional and "type" in spec and origin is not dict:
        spec["type"] = _optional(spec["type"])
    if meta.get("choices"):
        spec["choices"] = tuple(meta["choices"])
    if "choices" in spec:
        spec.pop("metavar", None)
    if meta.get("metavar"):
        spec["metavar"] = meta["metavar"]
    return spec


def flag_of(f: dataclasses.Field) -> str:
    """The default flag spelling of a field: `--field-name`."""
    return "--" + f.name.replace("_", "-")


def add_config_flags(
    parser: argparse.ArgumentParser | Any,
    cls: type,
    *,
    skip: tuple[str, ...] = (),
    title: str | None = None,
    description: str | None = None,
) -> None:
    """Add one flag per field of config dataclass `cls` (fields with `cli=False` and those in
    `skip` have none); an unset flag keeps the dataclass default.

    Args:
        parser: the verb's parser.
        cls: a dataclass whose fields were declared with `janitr.config.option`.
        skip: fields given no flag (the verb sets them itself).
        title: put the flags in an argument group with this title (and `description`).
    """
    target = parser.add_argument_group(title, description) if title else parser
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or not f.metadata.get("cli", True):
            continue
        spec = _spec(f, hints[f.name])
        text = field_help(f) or f.name.replace("_", " ")
        if spec.get("action") != "store_false" and "(default" not in text:
            default = f.default if f.default is not dataclasses.MISSING else None
            if default is not None and default != ():
                shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
                text += f" (default: {shown})"
        target.add_argument(
            f.metadata.get("flag") or flag_of(f),
            dest=_dest(cls, f.name),
            default=argparse.SUPPRESS,
            help=text.replace("%", "%%"),
            **spec,
        )


def config_values(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` whose flags were given, as `{field: value}`."""
    prefix = f"{DEST_PREFIX}{cls.__name__}:"
    hints = typing.get_type_hints(cls)
    out = {}
    for key, value in vars(args).items():
        if key.startswith(prefix):
            name = key[len(prefix) :]
            inner, _ = _unwrap_optional(hints[name])
            out[name] = dict(value) if typing.get_origin(inner) is dict else value
    return out


def build_config(cls: type, args: argparse.Namespace, **fixed: Any) -> Any:
    """The config of the flags given (the rest: `fixed`, then the dataclass defaults).

    Raises:
        ConfigError: naming every bad field (`janitr.cli.main` shows each as its flag).
    """
    return cls(**{**fixed, **config_values(args, cls)})


def add_quiet_flag(parser: argparse.ArgumentParser) -> None:
    """`--quiet` of a verb whose config has no `progress` field."""
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_bundle_id_flag(parser: argparse.ArgumentParser) -> None:
    """`--bundle-id ID`: pin the exact bundle a verb loads."""
    parser.add_argument(
        "--bundle-id",
        metavar="ID",
        help="refuse the bundle unless its content id is ID (at least 12 hex digits of the id "
        "that classify --json and evaluate print): pins the exact bundle",
    )


def is_quiet(args: argparse.Namespace) -> bool:
    """Whether the verb was told to be quiet: `--quiet`, as a plain flag or as a config's
    `progress` field turned off."""
    if getattr(args, "quiet", False):
        return True
    return any(
        key.startswith(DEST_PREFIX) and key.endswith(":progress") and value is False
        for key, value in vars(args).items()
    )


def add_threshold_flags(parser: argparse.ArgumentParser, *, skip: tuple[str, ...] = ()) -> None:
    """The `ThresholdPolicy` flags, in their own group; defaults: `DEFAULT_POLICY`, the same
    as `janitr run`'s `[thresholds]`."""
    from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy

    add_config_flags(
        parser,
        ThresholdPolicy,
        skip=skip,
        title="threshold tuning",
        description=f"default: {DEFAULT_POLICY.describe()}; the same policy as `janitr run` "
        "([thresholds])",
    )


def threshold_policy(args: argparse.Namespace):
    """The `ThresholdPolicy` of the threshold flags given (the rest: defaults).

    Raises:
        ConfigError: naming each bad field.
    """
    from janitr.evaluation.thresholds import ThresholdPolicy

    return build_config(ThresholdPolicy, args)
