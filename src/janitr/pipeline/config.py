"""The pipeline config: one typed section per stage, loaded from TOML, overridable per key.

    [run]         seed and name of the run
    [data]        which files of the data directory are which split; demo data size
    [leakage]     overlap checks between splits
    [tokenizer]   -> janitr.student.tokenizer.TokenizerConfig
    [fasttext]    -> janitr.baselines.fasttext.FastTextConfig
    [pretrain]    -> janitr.teacher.pretrain.PretrainConfig (optional MLM; off by default)
    [teacher]     -> janitr.teacher.model.TeacherConfig (calibrated inside the teacher stage)
    [cache]       teacher logit cache
    [distill]     -> janitr.student.distill.DistillConfig
    [student]     -> janitr.student.model.StudentConfig
    [export], [quantize]  ONNX export and int8 quantization, with their parity gates
    [thresholds]  -> janitr.evaluation.thresholds.ThresholdPolicy (the final bundles' thresholds)
    [evaluate]    which split, bootstrap size
    [report]      the HTML/Markdown report

Sections owned by a stage module are that module's own config class, imported directly
(one config class per stage: `janitr pretrain` and `[pretrain]` build the same one); the
stage modules import torch only inside their functions, so loading a config never does.
`PipelineConfig` has one typed attribute per section. Values are checked against the
dataclass field types, `--set key=value` strings are coerced from those types
(`--set teacher.seeds=13,42,7`), and every problem is collected and reported at once as a
`ConfigProblem` named by its full key (`teacher.lr: expected a float, found 'abc'`); a
stage config's own problems name bare fields, which `as_keys` prefixes with the section.
Unknown keys are rejected with a did-you-mean suggestion.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from janitr.baselines.fasttext import FastTextConfig
from janitr.config import ConfigProblem, in_identity, raise_problems
from janitr.errors import ConfigError
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.pipeline.refit import RefitConfig
from janitr.student.distill import DistillConfig
from janitr.student.model import StudentConfig
from janitr.student.tokenizer import TokenizerConfig
from janitr.teacher.model import TeacherConfig
from janitr.teacher.pretrain import PretrainConfig

FORMAT = "janitr-pipeline-config"
FORMAT_VERSION = 1


# --- sections owned by the pipeline ------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Settings of the run as a whole."""

    seed: int = 13
    """Seed of everything the pipeline itself draws: demo data, bootstrap resamples."""
    name: str = ""
    """Run name; empty: `YYYY-MM-DD-<adjective>-<noun>` drawn at the first start of the run."""
    name_from_seed: bool = False
    """Draw the generated name from `seed` (reproducible names, for tests)."""

    def __post_init__(self) -> None:
        # '.' is allowed: sweep variants are named like `BASE--alpha-0.5`.
        if self.name and not re.fullmatch(r"[a-z0-9][a-z0-9.-]*", self.name):
            message = f"expected lower-case letters, digits, '.' and '-', found {self.name!r}"
            raise_problems(self, [ConfigProblem("name", message)])


@dataclass(frozen=True)
class DataConfig:
    """The data directory holds `train.jsonl`, `valid.jsonl`, `calib.jsonl` and optionally
    `holdout.jsonl` and `unlabeled.jsonl` (the file names every stage reads)."""

    demo_rows: int = 600
    """Labeled rows of the generated demo dataset when no data directory is given."""
    tokenizer_unlabeled: bool = True
    """Also train the tokenizer on `unlabeled.jsonl` (if present)."""
    holdout_fraction: float = 0.2
    """When the data directory has no `holdout.jsonl`, the first stage carves this share of
    `train.jsonl` into a holdout (group-aware and stratified, `janitr.data.splits`); every later
    stage trains on the rest and the final evaluation uses the holdout. 0 turns it off."""
    holdout_seed: int = 13
    """Seed of the holdout carve."""

    def __post_init__(self) -> None:
        problems = []
        if self.demo_rows < 30:
            problems.append(
                ConfigProblem("demo_rows", f"expected an integer >= 30, found {self.demo_rows}")
            )
        if not (self.holdout_fraction == 0 or 0.02 <= self.holdout_fraction <= 0.5):
            problems.append(
                ConfigProblem(
                    "holdout_fraction",
                    f"expected 0 (off) or a float in [0.02, 0.5], found {self.holdout_fraction}",
                )
            )
        raise_problems(self, problems)


@dataclass(frozen=True)
class LeakageConfig:
    """Overlap checks between the splits before anything trains."""

    threshold: float = 0.8
    """Jaccard similarity from which two texts count as near-duplicates."""
    fail: bool = True
    """Stop the run when the holdout (the evaluation split) overlaps any other split."""
    fail_any: bool = False
    """Also stop when train, valid and calib overlap each other (otherwise: a warning and a
    note in the report; such overlap flatters model selection, not the final numbers)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            message = f"expected a float in (0, 1], found {self.threshold}"
            raise_problems(self, [ConfigProblem("threshold", message)])


@dataclass(frozen=True)
class CacheConfig:
    """The teacher logit / hidden-state cache that distillation reads."""

    layers: tuple[int, ...] | None = None
    """1-based teacher layers whose [CLS] vectors are cached (default: 4 spread over depth)."""
    batch_size: int = 64
    """Teacher inference batch size."""
    linear_weight: float = 0.67
    """Share of a word + char n-gram linear model in the distillation targets (0 = the
    transformer teacher alone). Two model families rank scams better together than either
    alone; train rows get the linear model's out-of-fold scores. 0.67 is the linear share of
    the cross-validated stacking weights, and `janitr sweep` chose it over 0.5 on valid
    (docs/LEVERS.md, "Distilling from the blend")."""
    unlabeled: bool = True
    """Also cache teacher targets for `unlabeled.jsonl` (rows near-duplicating valid, calib
    or holdout texts dropped): extra soft-label-only rows for the student."""

    def __post_init__(self) -> None:
        problems = []
        if self.layers is not None and (not self.layers or min(self.layers) < 1):
            problems.append(
                ConfigProblem("layers", f"expected positive layer numbers, found {self.layers}")
            )
        if not 0.0 <= self.linear_weight <= 1.0:
            problems.append(
                ConfigProblem(
                    "linear_weight", f"expected a float in [0, 1], found {self.linear_weight}"
                )
            )
        if self.batch_size < 1:
            problems.append(
                ConfigProblem("batch_size", f"expected a positive integer, found {self.batch_size}")
            )
        raise_problems(self, problems)


@dataclass(frozen=True)
class ExportConfig:
    """ONNX export of the student and its parity gate against torch."""

    opset: int = 17
    """ONNX opset."""
    parity_rows: int = 1000
    """Texts (train + valid + unlabeled, normalized) the parity check needs at least."""
    max_mean_delta: float = 0.01
    """Largest mean |delta p| per head between torch and ONNX."""
    min_agreement: float = 0.99
    """Smallest share of identical decisions."""

    def __post_init__(self) -> None:
        problems = _parity_gate_problems(self)
        if self.opset < 11:
            problems.append(
                ConfigProblem("opset", f"expected an integer >= 11, found {self.opset}")
            )
        raise_problems(self, problems)


def _parity_gate_problems(section) -> list[ConfigProblem]:
    """Problems in a parity gate's settings (shared by the export and quantize sections)."""
    problems = []
    if section.parity_rows < 1:
        problems.append(
            ConfigProblem(
                "parity_rows", f"expected a positive integer, found {section.parity_rows}"
            )
        )
    if not 0 < section.max_mean_delta < 1:
        problems.append(
            ConfigProblem(
                "max_mean_delta", f"expected a float in (0, 1), found {section.max_mean_delta}"
            )
        )
    if not 0 < section.min_agreement <= 1:
        problems.append(
            ConfigProblem(
                "min_agreement", f"expected a float in (0, 1], found {section.min_agreement}"
            )
        )
    return problems


@dataclass(frozen=True)
class QuantizeConfig:
    """Int8 quantization of the exported student and its parity gate."""

    mode: Literal["static", "dynamic"] = "static"
    """static (QDQ, activation ranges fixed from the training texts: a post scores the same
    alone or in any batch) or dynamic (ranges per run; served one post at a time)."""
    weights: Literal["int7", "uint8"] = "int7"
    """int7 (int8 weights in [-64, 64]: u8 x s8 kernels, about 2x faster on x86) or uint8
    (u8 weights: slightly more precise, slower); both are safe from int16 saturation on CPUs
    without VNNI (janitr.student.quantize)."""
    per_channel: bool = False
    """Per-channel weight scales."""
    parity_rows: int = 1000
    """Texts the int8 parity check needs at least."""
    max_mean_delta: float = 0.01
    """Largest mean |delta p| per head between fp32 and int8."""
    min_agreement: float = 0.99
    """Smallest share of identical decisions."""

    def __post_init__(self) -> None:
        raise_problems(self, _parity_gate_problems(self))


@dataclass(frozen=True)
class EvaluateConfig:
    """Final evaluation of every bundle, on one split, with one metric code path."""

    split: str = "auto"
    """Split to evaluate on: auto (holdout if present, else valid), holdout, valid or calib."""
    allow_overlap: bool = False
    """Score rows a model trained or was tuned on (the numbers are then not honest)."""
    bootstrap: int = 1000
    """Bootstrap resamples for confidence intervals."""
    seed: int = 0
    """Bootstrap seed."""

    def __post_init__(self) -> None:
        problems = []
        if self.split not in ("auto", "holdout", "valid", "calib"):
            problems.append(
                ConfigProblem(
                    "split", f"expected one of auto, holdout, valid, calib, found {self.split!r}"
                )
            )
        if self.bootstrap < 0:
            problems.append(
                ConfigProblem("bootstrap", f"expected an integer >= 0, found {self.bootstrap}")
            )
        raise_problems(self, problems)


@dataclass(frozen=True)
class ReportConfig:
    """The run report (HTML with embedded images, and Markdown)."""

    enabled: bool = True
    """Render the report at the end of the run."""
    top_errors: int = 15
    """False positives and false negatives listed per bundle."""

    def __post_init__(self) -> None:
        if self.top_errors < 0:
            message = f"expected an integer >= 0, found {self.top_errors}"
            raise_problems(self, [ConfigProblem("top_errors", message)])


# --- the composed config ------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineConfig:
    """The resolved configuration of one pipeline run: one typed section per stage.

    Each section is the stage's own config class (the stage modules import nothing heavy
    at import time: torch is imported inside their functions). Build it with `load_config`
    (TOML + overrides) or `config_from_dict`, which check every section; the constructor
    alone does not cross-check sections. `to_dict()` gives plain data.
    """

    run: RunConfig = field(default_factory=RunConfig)
    data: DataConfig = field(default_factory=DataConfig)
    leakage: LeakageConfig = field(default_factory=LeakageConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    fasttext: FastTextConfig = field(default_factory=FastTextConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    quantize: QuantizeConfig = field(default_factory=QuantizeConfig)
    thresholds: ThresholdPolicy = field(default_factory=ThresholdPolicy)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    refit: RefitConfig = field(default_factory=RefitConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def section(self, name: str) -> Any:
        """The section called `name` (a `SECTIONS` key).

        Raises:
            KeyError: for a name that is not a section.
        """
        if name not in SECTIONS:
            raise KeyError(f"PipelineConfig has no section {name!r}")
        return getattr(self, name)

    def section_dict(self, name: str) -> dict:
        """One section as plain JSON data (what stage manifests hash): every field except
        switches at their default that were added after runs existed (`config.in_identity`)."""
        section = self.section(name)
        return {
            f.name: _to_plain(getattr(section, f.name))
            for f in dataclasses.fields(section)
            if in_identity(section, f.name)
        }

    def to_dict(self) -> dict:
        return {name: _to_plain(getattr(self, name)) for name in SECTIONS}

    def with_overrides(self, overrides: Sequence[str] | Mapping[str, Any]) -> PipelineConfig:
        """A new config with `key=value` overrides applied (checked like `load_config`)."""
        return config_from_dict(self.to_dict(), overrides=overrides)


#: Section name -> its config class, in TOML order (the fields of `PipelineConfig`).
SECTIONS: dict[str, type] = {f.name: f.default_factory for f in dataclasses.fields(PipelineConfig)}  # type: ignore[misc]

#: Keys that older runs saved and that no longer exist, dropped on reading their config:
#: the trainers' provisional threshold settings (now fixed: `stages.PROVISIONAL`), and
#: the pipeline's own `[pretrain]` section's `steps` (the stage now takes
#: `teacher.pretrain.PretrainConfig`, the `janitr pretrain` settings: `max_steps`, `epochs`).
RETIRED_KEYS: dict[str, tuple[str, ...]] = {
    "fasttext": ("scam_target_fpr", "topic_target_fpr", "tune_on"),
    "teacher": ("scam_target_fpr",),
    "pretrain": ("steps",),
}


#: The threshold policy's settings (a retired trainer key among them belongs in [thresholds]).
THRESHOLD_KEYS = frozenset(f.name for f in dataclasses.fields(ThresholdPolicy))


def section_of(config_class: type) -> str | None:
    """The section whose config class is `config_class` (None if none is)."""
    return next((name for name, cls in SECTIONS.items() if cls is config_class), None)


def as_keys(error: ConfigError, section: str | None = None) -> ConfigError:
    """`error` with each problem's field named as its config key (`teacher.seeds`).

    A stage config's error names bare fields (`ConfigProblem.field`); a run shows them as
    `section.field`, the section being `section` or the one whose class raised. An error
    without problems is returned as it is.
    """
    section = section or (section_of(error.config) if error.config else None)
    if not error.problems or section is None:
        return error
    keyed = [
        ConfigProblem(f"{section}.{p.field}", p.message, tuple(f"{section}.{f}" for f in p.see))
        for p in error.problems
    ]
    return ConfigError(problems=keyed)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    return value


# --- type coercion ---------------------------------------------------------------------------

_NONE_WORDS = {"none", "null", ""}
_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _field_types(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # unresolved TYPE_CHECKING names: resolve what we can field by field
        namespace = {"Path": Path, "Literal": Literal, "Any": Any, **vars(typing)}
        out = {}
        for f in dataclasses.fields(cls):
            try:
                out[f.name] = eval(f.type, namespace) if isinstance(f.type, str) else f.type
            except Exception:
                out[f.name] = Any
        return out


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if tp is int:
        return "an integer"
    if tp is float:
        return "a float"
    if tp is bool:
        return "true or false"
    if tp in (str, Path):
        return "a string"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = _describe(args[0]) if args else "a value"
        return f"a comma-separated list of {inner.removeprefix('an ').removeprefix('a ')}s"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(
            _describe(a) if a is not type(None) else "none" for a in typing.get_args(tp)
        )
    return "a value"


class _Bad(Exception):
    pass


def coerce(value: Any, tp: Any) -> Any:
    """Coerce a TOML value or a `--set` string to a field type.

    Raises:
        ValueError: with "expected ..., found ..." if the value does not fit.
    """
    try:
        return _coerce(value, tp)
    except _Bad:
        raise ValueError(f"expected {_describe(tp)}, found {value!r}") from None


def _coerce(value: Any, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.strip().lower() in _NONE_WORDS)
        ):
            return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg)
            except _Bad:
                continue
        raise _Bad
    if tp is type(None):
        if value is None:
            return None
        raise _Bad
    if origin is Literal:
        for choice in typing.get_args(tp):
            if value == choice or (isinstance(value, str) and str(choice) == value.strip()):
                return choice
        raise _Bad
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _Bad
    if tp is int:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise _Bad from None
        raise _Bad
    if tp is float:
        if isinstance(value, bool):
            raise _Bad
        if isinstance(value, (int, float)):
            out = float(value)
        elif isinstance(value, str):
            try:
                out = float(value.strip())
            except ValueError:
                raise _Bad from None
        else:
            raise _Bad
        if not math.isfinite(out):
            raise _Bad
        return out
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Bad
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _Bad
    if origin in (list, tuple, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        inner = args[0] if args else Any
        if isinstance(value, str):
            items = [v for v in (s.strip() for s in value.split(",")) if v]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise _Bad
        out = [_coerce(v, inner) for v in items]
        return tuple(out) if origin is tuple else out
    if origin is dict or tp is dict:
        if isinstance(value, Mapping):
            return dict(value)
        raise _Bad
    return value


# --- building a config ---------------------------------------------------------------------


def _suggest(name: str, choices: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {prefix}{close[0]}?)"
    return f" (known: {', '.join(choices)})" if choices else " (this section takes no keys)"


def _build_section(name: str, values: Mapping[str, Any], problems: list[ConfigProblem]) -> Any:
    cls = SECTIONS[name]
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = _field_types(cls)
    kwargs: dict[str, Any] = {}
    found = len(problems)
    for key, value in values.items():
        full = f"{name}.{key}"
        if key in RETIRED_KEYS.get(name, ()) and key in THRESHOLD_KEYS:
            message = f"unknown key (threshold settings live in [thresholds]: set thresholds.{key})"
            problems.append(ConfigProblem(full, message))
            continue
        if key not in fields:
            hint = _suggest(key, sorted(fields), name + ".")
            problems.append(ConfigProblem(full, f"unknown key{hint}"))
            continue
        try:
            kwargs[key] = coerce(value, hints.get(key, Any))
        except ValueError as exc:
            problems.append(ConfigProblem(full, str(exc)))
    if len(problems) > found:
        return None
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        if exc.problems:
            problems.extend(as_keys(exc, name).problems)
        else:
            problems.append(ConfigProblem(name, str(exc)))
    except (TypeError, ValueError) as exc:
        problems.append(ConfigProblem(name, str(exc)))
    return None


def _cross_checks(sections: Mapping[str, Any]) -> list[ConfigProblem]:
    """Constraints between sections (each names the key to change)."""
    problems = []
    tok, student = sections.get("tokenizer"), sections.get("student")
    tv, sv = getattr(tok, "vocab_size", None), getattr(student, "vocab_size", None)
    if tv is not None and sv is not None and tv != sv:
        message = f"expected {tv} (= tokenizer.vocab_size), found {sv}"
        problems.append(ConfigProblem("student.vocab_size", message, ("tokenizer.vocab_size",)))
    return problems


def parse_override(item: str) -> tuple[str, str]:
    """Split `section.key=value` into its key and value.

    Raises:
        ConfigError: if the item has no `=` or the key is not `section.key`.
    """
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or "." not in key:
        raise ConfigError(
            f"--set {item!r}: expected section.key=value, e.g. --set distill.temperature=2"
        )
    return key, value


def config_from_dict(
    data: Mapping[str, Any], *, overrides: Sequence[str] | Mapping[str, Any] = ()
) -> PipelineConfig:
    """Build and check a config from nested plain data plus `key=value` overrides.

    Args:
        data: `{section: {key: value}}` (e.g. parsed TOML); missing keys take defaults.
        overrides: `["distill.temperature=2", ...]` strings, or a `{"section.key": value}`
            mapping; applied after `data`.

    Raises:
        ConfigError: listing every problem found, each naming its full key.
    """
    problems: list[ConfigProblem] = []
    merged: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
    for section, values in data.items():
        if section in ("format", "format_version"):
            continue
        if section not in SECTIONS:
            hint = _suggest(section, list(SECTIONS))
            problems.append(ConfigProblem(section, f"unknown section{hint}"))
            continue
        if not isinstance(values, Mapping):
            problems.append(ConfigProblem(section, f"expected a table of keys, found {values!r}"))
            continue
        merged[section].update(values)
    items = (
        overrides.items()
        if isinstance(overrides, Mapping)
        else (parse_override(o) for o in overrides)
    )
    for key, value in items:
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            hint = _suggest(section, list(SECTIONS))
            problems.append(ConfigProblem(key, f"unknown section {section!r}{hint}"))
            continue
        merged[section][name] = value
    sections = {name: _build_section(name, values, problems) for name, values in merged.items()}
    if not problems:
        problems += _cross_checks(sections)
    if problems:
        raise ConfigError(problems=problems)
    return PipelineConfig(**sections)


#: Built-in configs, usable without the repository's `configs/` folder (an installed
#: package has none). The defaults of every section are `configs/default.toml`; "fast" is
#: `configs/fast.toml` (tests check that both stay equal to their files).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {},
    "fast": {
        "run": {"seed": 13},
        "data": {"demo_rows": 600, "holdout_fraction": 0.2},
        "tokenizer": {"vocab_size": 2000, "min_frequency": 1},
        "fasttext": {"dim": 16, "epoch": 50, "bucket": 100000, "cutoff": 1000, "threads": 1},
        "teacher": {
            "seeds": [13],
            "force": True,
            "epochs": 1,
            "max_steps": 8,
            "batch_size": 16,
            "eval_batch_size": 64,
            "max_length": 48,
        },
        "cache": {"batch_size": 64},
        "student": {
            "vocab_size": 2000,
            "layers": 2,
            "hidden": 64,
            "heads": 2,
            "ffn": 128,
            "max_length": 48,
        },
        "distill": {"epochs": 2, "batch_size": 32, "eval_batch_size": 128},
        "export": {"parity_rows": 200},
        "quantize": {"parity_rows": 200},
        "thresholds": {"tune_on": "valid+calib", "rule": "empirical"},
        "evaluate": {"bootstrap": 200},
        "refit": {"enabled": False},
        "report": {"top_errors": 8},
    },
}


def load_config(
    path: str | Path | None = None,
    *,
    overrides: Sequence[str] | Mapping[str, Any] = (),
    preset: str | None = None,
) -> PipelineConfig:
    """Load a pipeline config from TOML (defaults if `path` is None) plus overrides.

    Args:
        path: a TOML file; None: the built-in `preset` (default: the section defaults).
        overrides: `key=value` strings or a mapping, applied last.
        preset: a name in `PRESETS` ("default", "fast"), used only when `path` is None.

    Raises:
        ConfigError: if the file is missing or not TOML, the preset unknown, or any key is
            unknown or invalid (all problems at once, each with its full key).
    """
    import tomllib

    data: dict[str, Any] = {}
    if path is None and preset is not None:
        if preset not in PRESETS:
            raise ConfigError(f"unknown config preset {preset!r}{_suggest(preset, list(PRESETS))}")
        data = json.loads(json.dumps(PRESETS[preset]))
    if path is not None:
        path = Path(path)
        if path.is_dir():
            raise ConfigError(f"config file {path} is a directory; give a .toml file")
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist (see configs/default.toml)")
        try:
            # utf-8-sig: a byte-order mark (Windows editors write one) is read past, as the
            # JSONL readers do; TOML itself does not allow it.
            data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise ConfigError(
                f"{path}: not UTF-8 (byte {exc.start}); save the file as UTF-8"
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return config_from_dict(data, overrides=overrides)
    except ConfigError as exc:
        where = f"{path}: " if path is not None else ""
        raise ConfigError(f"{where}{exc}", problems=exc.problems) from None


# --- saving ----------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} as TOML")


def to_toml(config: PipelineConfig) -> str:
    """The resolved config as TOML (keys whose value is None are written as comments)."""
    lines = [f"# janitr resolved pipeline config (format {FORMAT} v{FORMAT_VERSION})"]
    for name, values in config.to_dict().items():
        lines.append("")
        lines.append(f"[{name}]")
        for key, value in values.items():
            if value is None:
                lines.append(f"# {key} = (none)")
            else:
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_config(config: PipelineConfig, run_dir: str | Path) -> None:
    """Write `config.toml` (readable) and `config.json` (exact) into a run directory."""
    from janitr.artifacts import write_json, write_text

    run_dir = Path(run_dir)
    write_text(run_dir / "config.toml", to_toml(config))
    write_json(
        run_dir / "config.json",
        {"format": FORMAT, "format_version": FORMAT_VERSION, **config.to_dict()},
    )


def load_saved_config(run_dir: str | Path) -> PipelineConfig:
    """Load the config a run was made with (its `config.json`; keys in `RETIRED_KEYS` are
    dropped and a topic ceiling of 1.0 reads as none, so older runs still load).

    Raises:
        ConfigError: if the run has no saved config or it has another format version.
    """
    from janitr.artifacts import read_json

    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{path} does not exist: {run_dir} is not a `janitr run` directory")
    data = read_json(path)
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path}: expected {FORMAT} v{FORMAT_VERSION}, found "
            f"{data.get('format')!r} v{data.get('format_version')!r}"
        )
    for section, keys in RETIRED_KEYS.items():
        for key in keys:
            data.get(section, {}).pop(key, None)
    if data.get("thresholds", {}).get("topic_target_fpr") == 1.0:
        data["thresholds"]["topic_target_fpr"] = None  # the old spelling of "no ceiling"
    return config_from_dict(data)
