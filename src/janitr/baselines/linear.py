"""A word + character n-gram linear model: logistic-regression heads (kind `linear`).

Features are the concatenation of two TF-IDF blocks of the normalized text (each block
L2-normalized on its own): word 1-2-grams and `char_wb` 2-5-grams, sublinear tf. Independent
`LogisticRegression` models sit on top. With `heads = "collapsed"` there are two: scam-vs-not
and the topic bit, so a crypto scam is positive for both heads, as in every other model of the
project. With `heads = "groups"` (finer supervision) the scam head is replaced by one head per
kind of scam label (`labels.scam_groups`: fraud, spam_promo, other; those with positives in the
training rows), each trained on all rows, and `p_scam` combines them: `noisy_or`,
`1 - prod_g (1 - p_g)`, or `stack`, a logistic regression on the group heads' logits fitted on
their cross-fitted scores of the training rows. The model's outputs stay `(p_scam, p_topic)`
either way, so thresholds and the decision rule do not change.

`fit_linear(records, config)` returns a `LinearModel` in memory (for cross-fitting);
`train_linear(...)` also tunes thresholds on the calib split and writes a bundle. A bundle holds
no pickle: `linear.npz` (idf vectors, one coefficient row and intercept per head, the `stack`
weights; loaded with `allow_pickle=False`) and `vocab.json` (the config, the head names, the
two vocabularies, term -> column). `load_scorer`
rebuilds the vectorizers from them; the saved model scores bit-for-bit like the fitted one.

Threshold search and metrics are not here (`janitr.evaluation.thresholds`,
`janitr.evaluation.metrics`).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from janitr.artifacts import sha256_file
from janitr.config import (
    Config,
    ConfigProblem,
    choice_problems,
    option,
    positive_ints,
    raise_problems,
)
from janitr.data.labels import (
    SCAM_KINDS,
    collapse,
    scam_group_kinds,
    scam_group_targets,
    targets,
)
from janitr.data.normalize import NormalizationConfig
from janitr.data.records import Record, file_problem, read_records, require_rows
from janitr.errors import BundleError, ConfigError, DataError, Problem
from janitr.evaluation.evaluate import unseen_report
from janitr.evaluation.thresholds import DEFAULT_POLICY, ThresholdPolicy
from janitr.runtime.bundle import Bundle, seen_entry, write_bundle

log = logging.getLogger(__name__)

FORMAT = "janitr-linear"
#: v2 adds the head names and the group combiner (v1 files are read as two collapsed heads).
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


#: Class weightings of the logistic regressions.
CLASS_WEIGHTS = ("balanced", "none")
#: What the scam side learns: one collapsed scam head, or one head per kind of scam label.
HEADS = ("collapsed", "groups")
#: How `heads = "groups"` combines the group heads into p_scam.
GROUP_COMBINES = ("noisy_or", "stack")
#: Inner folds that give the group heads' cross-fitted scores the `stack` combiner learns on.
STACK_FOLDS = 5


@dataclass(frozen=True)
class LinearConfig(Config):
    """Settings of `janitr train linear` (each field is a flag of that verb)."""

    word_max_n: int = option(2, help="longest word n-gram (word n-grams are 1..word_max_n)")
    char_min_n: int = option(2, help="shortest character n-gram (char_wb, inside word boundaries)")
    char_max_n: int = option(5, help="longest character n-gram")
    min_df: int = option(1, help="minimum number of training rows an n-gram must occur in")
    max_features: int = option(
        0, help="cap on each block's vocabulary (most frequent kept); 0 = no cap"
    )
    c: float = option(4.0, help="inverse regularization strength of both logistic regressions")
    class_weight: str = option(
        "balanced", help="balanced (reweight classes) or none", choices=CLASS_WEIGHTS
    )
    max_iter: int = option(2000, help="solver iterations")
    strip_urls: bool = option(False, help="strip URLs in the normalization (saved in the bundle)")
    fold_confusables: bool = option(
        True,
        help="fold Unicode confusables to ASCII (and drop combining marks) in the normalization",
    )
    seed: int = option(0, help="random seed (solver tie-breaking only; the fit is deterministic)")
    heads: str = option(
        "groups",
        choices=HEADS,
        help="scam supervision: one head per kind of scam label (fraud, spam_promo, other) "
        "combined into p_scam (--group-combine), or one head on the collapsed scam label "
        "(docs/LEVERS.md, issue #15 lever 3)",
    )
    group_combine: str = option(
        "noisy_or",
        choices=GROUP_COMBINES,
        help="with --heads groups: p_scam = 1 - prod(1 - p_group) (noisy_or), or a logistic "
        "regression on the group logits fitted on their cross-fitted scores (stack)",
    )

    def __post_init__(self) -> None:
        problems = positive_ints(
            self, ("word_max_n", "char_min_n", "char_max_n", "min_df", "max_iter")
        )
        if not isinstance(self.max_features, int) or self.max_features < 0:
            problems.append(
                ConfigProblem("max_features", f"must be an integer >= 0, got {self.max_features!r}")
            )
        if (
            isinstance(self.char_min_n, int)
            and isinstance(self.char_max_n, int)
            and self.char_max_n < self.char_min_n
        ):
            problems.append(
                ConfigProblem(
                    "char_max_n",
                    f"({self.char_max_n}) must be >= char_min_n ({self.char_min_n})",
                    ("char_min_n",),
                )
            )
        if not (isinstance(self.c, int | float) and self.c > 0):
            problems.append(ConfigProblem("c", f"must be > 0, got {self.c!r}"))
        if self.class_weight not in CLASS_WEIGHTS:
            problems.append(
                ConfigProblem(
                    "class_weight", f"must be balanced or none, got {self.class_weight!r}"
                )
            )
        problems += choice_problems(self, ("heads", "group_combine"))
        raise_problems(self, problems)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def normalization(self) -> NormalizationConfig:
        return NormalizationConfig(
            strip_urls=self.strip_urls, fold_confusables=self.fold_confusables
        )


def _vectorizers(config: LinearConfig, vocabularies: dict | None = None):
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = {"sublinear_tf": True, "lowercase": False, "dtype": np.float64}
    cap = config.max_features or None
    word = TfidfVectorizer(
        analyzer="word", ngram_range=(1, config.word_max_n), token_pattern=r"(?u)\b\w+\b",
        min_df=config.min_df, max_features=cap,
        vocabulary=None if vocabularies is None else vocabularies["word"], **common,
    )  # fmt: skip
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(config.char_min_n, config.char_max_n),
        min_df=config.min_df, max_features=cap,
        vocabulary=None if vocabularies is None else vocabularies["char"], **common,
    )  # fmt: skip
    return word, char


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def noisy_or(group_logits: np.ndarray) -> np.ndarray:
    """p_scam of independent group heads: `1 - prod_g (1 - sigmoid(z_g))`.

    Computed in log space, `-expm1(-sum_g softplus(z_g))`, so that many confident heads
    neither underflow nor round to exactly 1 early.

    Args:
        group_logits: (N, G) logits of the group heads.

    Returns:
        (N,) probabilities.
    """
    z = np.asarray(group_logits, dtype=np.float64)
    return -np.expm1(-np.logaddexp(0.0, z).sum(axis=1))


@dataclass
class LinearModel:
    """A fitted linear model. `predict_heads` takes normalized texts.

    `heads` names the rows of `coef`: `("scam", "topic")` when collapsed, else the group heads
    (kinds of `labels.SCAM_KINDS`) then `"topic"`. `stack_coef` (G,) and `stack_intercept`
    are the `stack` combiner's weights on the group logits (None otherwise).
    """

    config: LinearConfig
    word: object  # fitted TfidfVectorizer (word n-grams)
    char: object  # fitted TfidfVectorizer (char_wb n-grams)
    coef: np.ndarray  # (H, F): one row per head, the topic head last
    intercept: np.ndarray  # (H,)
    heads: tuple[str, ...] = ("scam", "topic")
    stack_coef: np.ndarray | None = None  # (G,)
    stack_intercept: float | None = None

    def features(self, texts: Sequence[str]):
        """Sparse (N, F) features: [word TF-IDF | char TF-IDF]."""
        from scipy.sparse import hstack

        texts = list(texts)
        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def head_logits(self, texts: Sequence[str]) -> np.ndarray:
        """Logits (N, H) of every head, in the order of `heads`."""
        return np.asarray(self.features(texts) @ self.coef.T) + self.intercept

    def _outputs(self, logits: np.ndarray) -> np.ndarray:
        """(N, H) head logits -> (N, 2) probabilities [p_scam, p_topic]."""
        if self.config.heads == "collapsed":
            return _sigmoid(logits)
        groups, topic = logits[:, :-1], logits[:, -1]
        if self.config.group_combine == "stack":
            p_scam = _sigmoid(groups @ self.stack_coef + self.stack_intercept)
        else:
            p_scam = noisy_or(groups)
        return np.stack([p_scam, _sigmoid(topic)], axis=1)

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Return float array (N, 2): column 0 = p(scam), column 1 = p(topic_crypto)."""
        if len(texts) == 0:
            return np.zeros((0, 2))
        return self._outputs(self.head_logits(texts))

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write `linear.npz` and `vocab.json` into directory; returns name -> path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        npz = directory / "linear.npz"
        stack = {}
        if self.stack_coef is not None:
            stack = {
                "stack_coef": self.stack_coef,
                "stack_intercept": np.array(self.stack_intercept, dtype=np.float64),
            }
        with open(npz, "wb") as handle:
            np.savez(
                handle,
                idf_word=self.word.idf_,
                idf_char=self.char.idf_,
                coef=self.coef,
                intercept=self.intercept,
                **stack,
            )
        vocab = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "heads": list(self.heads),
            # term -> column, sorted by column so the file diffs and hashes stably
            "word": dict(sorted(self.word.vocabulary_.items(), key=lambda kv: kv[1])),
            "char": dict(sorted(self.char.vocabulary_.items(), key=lambda kv: kv[1])),
        }
        vocab_path = directory / "vocab.json"
        vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        return {"linear.npz": npz, "vocab.json": vocab_path}

    @classmethod
    def load(cls, npz_path: str | Path, vocab_path: str | Path) -> LinearModel:
        """Rebuild a model from `linear.npz` + `vocab.json` (no pickle).

        Raises:
            BundleError: on another format version or inconsistent shapes.
        """
        vocab = json.loads(Path(vocab_path).read_text(encoding="utf-8"))
        if vocab.get("format") != FORMAT or vocab.get("format_version") not in READABLE_VERSIONS:
            raise BundleError(
                f"{vocab_path}: expected {FORMAT} v{FORMAT_VERSION}, found "
                f"{vocab.get('format')!r} v{vocab.get('format_version')!r}; retrain the model"
            )
        # Models saved before the threshold policy was its own config carry its settings.
        retired = ("scam_target_fpr", "topic_target_fpr", "threshold_rule", "tune_on")
        settings = {k: v for k, v in vocab["config"].items() if k not in retired}
        settings.setdefault("heads", "collapsed")  # v1: no group heads existed
        config = LinearConfig.from_dict(settings)
        heads = tuple(vocab.get("heads", ("scam", "topic")))
        with np.load(npz_path, allow_pickle=False) as arrays:
            idf_word, idf_char = arrays["idf_word"], arrays["idf_char"]
            coef, intercept = arrays["coef"], arrays["intercept"]
            stack_coef = arrays.get("stack_coef")
            stack_intercept = arrays.get("stack_intercept")
            stack_intercept = None if stack_intercept is None else float(stack_intercept)
        word, char = _vectorizers(config, {"word": vocab["word"], "char": vocab["char"]})
        # A vectorizer built with a fixed vocabulary only needs its idf to transform.
        for vec, idf, name in ((word, idf_word, "word"), (char, idf_char, "char")):
            if idf.shape != (len(vocab[name]),):
                raise BundleError(
                    f"{npz_path}: {name} idf has {idf.shape} for "
                    f"{len(vocab[name])} terms; the model files do not match"
                )
            vec._validate_vocabulary()
            vec.idf_ = idf
        if coef.shape != (len(heads), idf_word.size + idf_char.size):
            raise BundleError(
                f"{npz_path}: coefficients {coef.shape} do not match the "
                f"{len(heads)} heads and the vocabularies; the model files do not match"
            )
        expected = _expected_heads(config, heads)
        if expected:
            raise BundleError(f"{vocab_path}: {expected}; the model files do not match")
        stacked = config.heads == "groups" and config.group_combine == "stack"
        if stacked and (stack_coef is None or stack_coef.shape != (len(heads) - 1,)):
            raise BundleError(
                f"{npz_path}: heads = groups with group_combine = stack needs stack_coef of "
                f"shape ({len(heads) - 1},); the model files do not match"
            )
        return cls(
            config=config, word=word, char=char, coef=coef, intercept=intercept, heads=heads,
            stack_coef=stack_coef if stacked else None,
            stack_intercept=stack_intercept if stacked else None,
        )  # fmt: skip


def _expected_heads(config: LinearConfig, heads: Sequence[str]) -> str:
    """What is wrong with a model's head names for its config ('' if nothing)."""
    if config.heads == "collapsed":
        ok = tuple(heads) == ("scam", "topic")
        want = "heads scam, topic"
    else:
        groups = list(heads[:-1])
        ok = heads[-1:] == ("topic",) and bool(groups) and set(groups) <= set(SCAM_KINDS)
        ok = ok and groups == [k for k in SCAM_KINDS if k in groups]
        want = f"group heads (of {', '.join(SCAM_KINDS)}) then topic"
    return "" if ok else f"heads = {config.heads} needs {want}, found {', '.join(heads)}"


def head_targets(records: Sequence[Record]) -> np.ndarray:
    """(N, 2) int targets: is_scam, is_topic (independent)."""
    t = [targets(r.labels) for r in records]
    return np.array([[x.is_scam, x.is_topic] for x in t], dtype=np.int64)


def group_targets(labels: Sequence[Sequence[str]]) -> tuple[tuple[str, ...], np.ndarray]:
    """Targets of the group heads: one column per kind of scam label (`labels.scam_groups`)
    that some row has, in `SCAM_KINDS` order.

    Args:
        labels: raw labels of each row.

    Returns:
        `(kinds, (N, G) int targets)`; a row with labels of two kinds is positive for both.
    """
    kinds = scam_group_kinds(labels)
    return kinds, scam_group_targets(labels, kinds)


def _fit_head(x, y: np.ndarray, config: LinearConfig) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(
        C=config.c, class_weight=None if config.class_weight == "none" else "balanced",
        max_iter=config.max_iter, solver="liblinear", random_state=config.seed,
    )  # fmt: skip
    lr.fit(x, y)
    return lr.coef_[0], float(lr.intercept_[0])


def _fit_stack(x, texts: Sequence[str], y_groups: np.ndarray, is_scam: np.ndarray, config):
    """The `stack` combiner: a logistic regression of is_scam on the group heads' logits,
    each row scored by group heads fitted without it (STACK_FOLDS folds stratified by scam,
    equal and near-duplicate texts in one fold). In-sample logits would be overconfident."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold

    from janitr.data.neardup import duplicate_groups

    n_folds = int(min(STACK_FOLDS, np.bincount(is_scam).min()))
    if n_folds < 2:
        raise ConfigError("group_combine = stack needs at least 2 scam and 2 other rows")
    groups = np.asarray(duplicate_groups(list(texts)))
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=config.seed)
    z = np.zeros(y_groups.shape)
    for fit_rows, score_rows in splitter.split(np.zeros(len(is_scam)), is_scam, groups):
        for g in range(y_groups.shape[1]):
            y = y_groups[fit_rows, g]
            if len(np.unique(y)) < 2:  # a tiny fold without this kind: the head says "no"
                z[score_rows, g] = -10.0 if y[0] == 0 else 10.0
                continue
            coef, intercept = _fit_head(x[fit_rows], y, config)
            z[score_rows, g] = x[score_rows] @ coef + intercept
    lr = LogisticRegression(C=1.0, max_iter=1000)
    lr.fit(z, is_scam)
    return lr.coef_[0].astype(np.float64), float(lr.intercept_[0])


def fit_linear(
    records: Sequence[Record],
    config: LinearConfig,
    *,
    texts: Sequence[str] | None = None,
    labels: Sequence[Sequence[str]] | None = None,
) -> LinearModel:
    """Fit the heads on labeled records (or explicit normalized texts + their raw labels).

    Args:
        records: training rows; their text is normalized with the config's settings.
        config: features, regularization and heads.
        texts: normalized texts to use instead of the records' (e.g. augmented copies).
        labels: raw labels of each of `texts`.

    Returns:
        the fitted LinearModel.

    Raises:
        ConfigError: if a head has only one class in the training rows.
    """
    from scipy.sparse import hstack

    if texts is None:
        norm = config.normalization
        texts = [norm.apply(r.text) for r in records]
        labels = [r.labels for r in records]
    texts = list(texts)
    if labels is None or len(labels) != len(texts):
        raise ConfigError("fit_linear: `texts` needs `labels`, one label list per text")
    t = [targets(row) for row in labels]
    is_scam = np.array([x.is_scam for x in t], dtype=np.int64)
    is_topic = np.array([x.is_topic for x in t], dtype=np.int64)
    word, char = _vectorizers(config)
    x = hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
    if config.heads == "collapsed":
        names, y = ("scam",), is_scam[:, None]
    else:
        names, y = group_targets(labels)
    y = np.column_stack([y, is_topic])
    heads = (*names, "topic")
    for name, column in zip(heads, y.T, strict=True) if names else [("scam", is_scam)]:
        if len(np.unique(column)) < 2:
            raise ConfigError(
                f"the {name} head has a single class in the training rows; "
                "linear training needs positives and negatives for every head"
            )
    coef = np.zeros((len(heads), x.shape[1]))
    intercept = np.zeros(len(heads))
    for head in range(len(heads)):
        coef[head], intercept[head] = _fit_head(x, y[:, head], config)
    stack_coef = stack_intercept = None
    if config.heads == "groups" and config.group_combine == "stack":
        stack_coef, stack_intercept = _fit_stack(x, texts, y[:, :-1], is_scam, config)
    return LinearModel(
        config=config, word=word, char=char, coef=coef, intercept=intercept, heads=heads,
        stack_coef=stack_coef, stack_intercept=stack_intercept,
    )  # fmt: skip


class LinearScorer:
    """Scorer of a `linear` bundle: normalized texts -> (N, 2) head probabilities.

    Callers normalize with the bundle's settings; if the model folds confusables and a caller
    only applied the default normalization, folding is applied here as well (folding an
    already normalized text gives the same result as folding the raw text).
    """

    def __init__(self, model: LinearModel):
        self.model = model

    def predict_heads(self, texts: Sequence[str]) -> np.ndarray:
        """Return float array (N, 2): column 0 = p(scam), column 1 = p(topic_crypto)."""
        texts = list(texts)
        if self.model.config.fold_confusables:
            texts = [self.model.config.normalization.apply(t) for t in texts]
        return self.model.predict_heads(texts)


def load_scorer(bundle: Bundle) -> LinearScorer:
    """Build the scorer of a `linear` bundle."""
    return LinearScorer(LinearModel.load(bundle.file("linear.npz"), bundle.file("vocab.json")))


def _read_splits(data_dir: Path, splits: Sequence[str]) -> dict[str, list[Record]]:
    paths = [data_dir / f"{s}.jsonl" for s in splits]
    hint = f"--data must hold {', '.join(s + '.jsonl' for s in splits)}"
    if data_dir.is_file():
        raise DataError([Problem(str(data_dir), 0, "<dir>", "is a file, not a directory", hint)])
    bad = [file_problem(p, hint=hint) for p in paths]
    if any(bad):
        raise DataError([p for p in bad if p], summary=f"{data_dir}: missing split file(s)")
    records = read_records(*paths)
    by_split: dict[str, list[Record]] = {s: [] for s in splits}
    for r in records:
        by_split[Path(r.path).stem].append(r)
    return by_split


def _provenance(path: Path, rows: int) -> dict:
    """The file's name, rows and hash (no absolute path: a bundle does not depend on where
    the data lay, so the same data in another directory gives the same bundle)."""
    return {"file": path.name, "rows": rows, "sha256": sha256_file(path)}


def train_linear(
    *,
    data_dir: str | Path,
    out_dir: str | Path,
    config: LinearConfig,
    thresholds: ThresholdPolicy = DEFAULT_POLICY,
) -> Bundle:
    """Train the linear model on train.jsonl, tune thresholds, write a bundle: `fit_linear`,
    `tune_linear` and `write_linear_bundle` on the splits of `data_dir`.

    Args:
        data_dir: directory with `train.jsonl` and the tuning split(s); `valid.jsonl`, when
            present and not used for tuning, gets a metrics report (`model.report`).
        out_dir: bundle directory to write (replaced atomically if it exists).
        config: feature and regularization settings.
        thresholds: the threshold policy (targets, rule, tuning split(s)).

    Returns:
        the written, verified Bundle.

    Raises:
        DataError: on missing split files or bad rows.
        ConfigError: if a head has a single class in train.
    """
    data_dir = Path(data_dir)
    report_split = "valid" if "valid" not in thresholds.tune_splits else None
    wanted = ["train", *thresholds.tune_splits]
    if report_split and (data_dir / "valid.jsonl").is_file():
        wanted.append(report_split)
    else:
        report_split = None
    splits = _read_splits(data_dir, wanted)
    tune = [r for s in thresholds.tune_splits for r in splits[s]]
    require_rows(splits["train"], path=data_dir / "train.jsonl", role="training",
                 kinds=("scam", "topic_crypto", "not scam"))  # fmt: skip
    tuning_files = " + ".join(str(data_dir / f"{s}.jsonl") for s in thresholds.tune_splits)
    require_rows(tune, path=tuning_files, role="threshold tuning", kinds=("scam", "not scam"))
    started = time.perf_counter()
    model = fit_linear(splits["train"], config)
    log.info("linear model trained in %.1fs", time.perf_counter() - started)
    tuned = tune_linear(model, splits, thresholds)
    return write_linear_bundle(
        model, tuned, out_dir=out_dir, data_dir=data_dir, splits=splits, thresholds=thresholds,
        report_split=report_split,
    )  # fmt: skip


def tune_linear(
    model: LinearModel, splits: dict[str, list[Record]], thresholds: ThresholdPolicy
) -> dict:
    """Thresholds of `model` on the rows of `thresholds.tune_splits` (`ThresholdPolicy.tune`'s
    result); disabled classes are logged as warnings."""
    norm = model.config.normalization
    tune = [r for s in thresholds.tune_splits for r in splits[s]]
    heads = model.predict_heads([norm.apply(r.text) for r in tune])
    tuned = thresholds.tune([collapse(r.labels) for r in tune], heads)
    for name in tuned["tuning"]["disabled"]:
        log.warning("no %s threshold meets the constraints on %s: the class is disabled",
                    name, thresholds.tune_on)  # fmt: skip
    return tuned


def write_linear_bundle(
    model: LinearModel,
    tuned: dict,
    *,
    out_dir: str | Path,
    data_dir: Path,
    splits: dict[str, list[Record]],
    thresholds: ThresholdPolicy,
    report_split: str | None = None,
    read: Sequence[str] | None = None,
    tuning_data: str | None = None,
    lineage: dict | None = None,
) -> Bundle:
    """The linear bundle: model files, thresholds, provenance of every split read, and (when
    `report_split` is given) a report on its rows not seen in training or tuning.

    `read`, `tuning_data` and `lineage` as in `fasttext.write_fasttext_bundle` (a refit's)."""
    config = model.config
    read = list(read or ["train", *thresholds.tune_splits])
    data = {s: _provenance(data_dir / f"{s}.jsonl", len(splits[s])) for s in read}
    seen = {s: seen_entry([r.id for r in splits[s]], [r.text for r in splits[s]]) for s in read}
    report = None
    if report_split:
        report = unseen_report(
            report_split, splits[report_split], seen, model.predict_heads,
            config.normalization, thresholds=tuned["thresholds"], seed=config.seed,
        )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="janitr-linear-") as tmp:
        files = model.save(tmp)
        size = sum(p.stat().st_size for p in files.values())
        info = {
            "file": "linear.npz",
            "framework": "scikit-learn TF-IDF + LogisticRegression (liblinear)",
            "config": {**config.to_dict(), **thresholds.record()},
            "features": {"word": len(model.word.vocabulary_), "char": len(model.char.vocabulary_)},
            "heads": list(model.heads),
            "size_bytes": size,
            "report": report,
        }
        if lineage is not None:
            info["refit"] = lineage
        tuning = {"data": tuning_data or thresholds.tune_on, **tuned["tuning"]}
        bundle = write_bundle(
            out_dir, kind="linear", files=files, thresholds=tuned["thresholds"], tuning=tuning,
            normalization=config.normalization, data=data, seen=seen, model=info,
        )  # fmt: skip
    log.info("wrote %s (%.1f KB)", out_dir, size / 1024)
    return bundle
