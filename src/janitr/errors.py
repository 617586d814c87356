"""Typed errors raised by the library.

Library code raises these; only `janitr.cli` turns them into an exit code and a one-line
message. Every message says what was expected, what was found, and how to fix it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


class JanitrError(Exception):
    """Base class for every error the user can act on (shown without a traceback)."""


@dataclass(frozen=True)
class Problem:
    """One problem in one row of one file: `file:line: field: message (hint)`."""

    path: str
    line: int
    field: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"{self.path}:{self.line}: {self.field}: {self.message}{hint}"


class DataError(JanitrError):
    """A dataset has one or more bad rows. `problems` lists every one of them."""

    def __init__(self, problems: list[Problem], *, summary: str = ""):
        self.problems = list(problems)
        head = summary or f"{len(self.problems)} problem(s) in the data"
        lines = [head] + [str(p) for p in self.problems[:50]]
        if len(self.problems) > 50:
            lines.append(f"... and {len(self.problems) - 50} more")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class ConfigProblem:
    """One bad setting of a config: the dataclass field and what is wrong with it.

    The field is a bare field name (`lr`); whoever shows the problem names it as its user
    knows it: `janitr.cli` as the flag (`--lr`), the pipeline as the TOML key
    (`teacher.lr`). `see` lists other fields the problem involves (`maxn` is checked
    against `minn`), named the same way.
    """

    field: str
    message: str
    see: tuple[str, ...] = ()

    def render(self, name: Callable[[str], str] = str) -> str:
        """`<name(field)>: <message>` (`(see <name(other)>, ...)` appended)."""
        see = f" (see {', '.join(name(f) for f in self.see)})" if self.see else ""
        return f"{name(self.field)}: {self.message}{see}"


class ConfigError(JanitrError):
    """A configuration value is missing or invalid; the message names the key.

    Raised with `problems` (every `ConfigProblem` found, collected before raising once) and
    `config` (the dataclass whose fields they name), the error can be rendered in the
    caller's terms with `render(name)`; its plain message names the bare fields.
    """

    def __init__(
        self,
        message: str = "",
        *,
        problems: Sequence[ConfigProblem] = (),
        config: type | None = None,
    ):
        self.problems = tuple(problems)
        self.config = config
        if not message:
            what = f"invalid {config.__name__}: " if config is not None else ""
            message = what + self.render(str)
        super().__init__(message)

    def render(self, name: Callable[[str], str]) -> str:
        """The problems joined by `; `, each field named by `name(field)`; the plain
        message when there are none."""
        if not self.problems:
            return str(self)
        return "; ".join(p.render(name) for p in self.problems)


class BundleError(JanitrError):
    """A model bundle is missing, of an unknown version, or fails its checksums."""


class ProvenanceError(JanitrError):
    """Artifacts from different data, teachers or label maps were about to be mixed."""


class LeakageError(JanitrError):
    """Evaluation data overlaps the data a model was trained or tuned on."""


class BenchmarkError(JanitrError):
    """A frozen benchmark no longer matches its manifest."""


class ParityError(JanitrError):
    """An exported or quantized model disagrees with its reference beyond the gates.

    `report` is the parity report that failed (None when it could not be computed).
    """

    def __init__(self, message: str, report=None):
        super().__init__(message)
        self.report = report


class TextError(JanitrError, ValueError):
    """A text cannot be classified: nothing visible in it, or not valid Unicode.

    `reason` is the bare reason (e.g. "empty after normalization"), without the text's
    position, for callers that report it in their own terms (a file line).
    """

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class EmptyTextError(TextError):
    """A text to classify is empty (or only whitespace, control or invisible characters)."""


class MissingDependencyError(JanitrError):
    """An optional dependency is needed for this command; the message says how to install it."""


def require(module: str, *, extra: str | None):
    """Import a dependency, or raise `MissingDependencyError` naming how to install it.

    Args:
        module: dotted module name (`torch`, `torch.nn.functional`, `safetensors.torch`).
        extra: the optional extra that installs it (`train`), or None for a core dependency.

    Raises:
        MissingDependencyError: if the module cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        if extra:
            how = f"install it with: pip install 'janitr[{extra}]'"
        else:
            how = "it is a core dependency of janitr; reinstall it with: pip install janitr"
        raise MissingDependencyError(
            f"this command needs the '{package}' package, which is not installed ({how})"
        ) from exc


class TokenizerError(JanitrError):
    """A tokenizer has the wrong vocabulary size or turns too much text into [UNK]."""


class SplitError(JanitrError):
    """A split misses its stratification bounds (label or label-pair prevalence deltas)."""


class PipelineError(JanitrError):
    """A pipeline stage failed or a run directory is unusable; finished stages are kept."""


class RunError(JanitrError):
    """A run directory is missing, incomplete, or not comparable with another run."""
