"""Per-class decision thresholds tuned on data the model did not train on.

Scam: maximize recall subject to FPR <= target (2% by default; DESIGN.md step 12). Candidates
are the distinct observed scores plus one value above every probability (which disables the
class); ties in recall go to the higher threshold. When no candidate reaches a positive
recall within the FPR budget, the class is *disabled*: its threshold is `DISABLED` (above any
probability, so the decision rule never fires) and the result says so, for the caller to warn.

Topic: given the scam threshold, maximize the topic class's F1 under the decision rule
(a row is topic_crypto only if it is not already scam), optionally subject to a topic FPR
target. Each search sorts the scores once: O(N log N).

Two scam rules: `empirical` (FPR on the tuning data <= target) and `guaranteed`: the
one-sided Clopper-Pearson upper confidence bound on the FPR (at `confidence`) must be <=
target, so that the budget holds on new data from the same distribution with that confidence.
Certifying a target at all needs enough negatives: `min_negatives_for_guarantee(0.02, 0.95)`
is 149 (even zero false positives among fewer negatives do not prove FPR <= 2%).

`ThresholdPolicy` is the one threshold-tuning config (targets, rule, confidence, tuning rows)
that every trainer and `janitr run` compose; its defaults are the product's (guaranteed rule
at 80% confidence on valid+calib, scam FPR <= `SCAM_TARGET_FPR`, no topic ceiling).
`ThresholdPolicy.tune` tunes two-head scores; `janitr.evaluation.tuning.tune_bundle` tunes a
bundle with it.

This module only chooses thresholds; applying them is `labels.decide`, measuring them is
`janitr.evaluation.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from janitr.config import ConfigProblem, option, raise_problems
from janitr.data.labels import CLASSES, SCAM, TOPIC

#: Threshold of a disabled class: above any probability, so `p >= DISABLED` never holds.
DISABLED = 2.0

DECISION_RULE = "scam if p_scam >= t_scam, else topic_crypto if p_topic >= t_topic, else clean"
#: Scam threshold rules of `tune_thresholds`.
RULES = ("empirical", "guaranteed")
#: Splits thresholds may be tuned on (never train: its scores are optimistic).
TUNE_CHOICES = ("calib", "valid", "valid+calib")


#: The product rule: at most 2% of the posts that are not scams may be flagged as scam.
SCAM_TARGET_FPR = 0.02


def tuning_splits(tune_on: str) -> tuple[str, ...]:
    """The split names of a `TUNE_CHOICES` value: "valid+calib" -> ("valid", "calib")."""
    return tuple(tune_on.split("+"))


@dataclass(frozen=True)
class ThresholdPolicy:
    """How thresholds are tuned: the one config every trainer and `janitr run` compose.

    A topic target of None is the one spelling of "no ceiling": the topic threshold then
    maximizes topic F1 given the scam threshold (the FPR budget is the scam rule).
    """

    scam_target_fpr: float = option(
        SCAM_TARGET_FPR,
        metavar="X",
        help="scam FPR ceiling: the highest scam false-positive rate allowed (the product "
        "rule is 2%)",
    )
    topic_target_fpr: float | None = option(
        None,
        metavar="X",
        help="topic FPR ceiling; none: no ceiling, the topic threshold maximizes topic F1 "
        "(default: none)",
    )
    # More rows give a steadier FPR (calib's ~150 negatives move 0.7 points per false positive).
    tune_on: str = option(
        "valid+calib", choices=TUNE_CHOICES, help="split(s) the thresholds are tuned on"
    )
    # An empirical threshold allowing k false positives among n negatives has an expected
    # FPR of about (k+1)/(n+1), slightly *above* the target; the bound keeps the budget on
    # new data.
    rule: str = option(
        "guaranteed",
        flag="--threshold-rule",
        choices=RULES,
        help="scam rule: empirical (FPR on the tuning rows <= target) or guaranteed "
        "(Clopper-Pearson bound on the FPR <= target)",
    )
    confidence: float = option(
        0.8,
        metavar="X",
        help="confidence of the guaranteed rule (0.8 needs >= 80 negatives for 2%)",
    )

    def __post_init__(self) -> None:
        raise_problems(self, self.problems())

    def problems(self) -> list[ConfigProblem]:
        """Every problem with the settings."""
        return threshold_problems(asdict(self))

    @property
    def tune_splits(self) -> tuple[str, ...]:
        """The split names of `tune_on`: "valid+calib" -> ("valid", "calib")."""
        return tuning_splits(self.tune_on)

    def describe(self) -> str:
        """One line for help texts and logs, e.g. `guaranteed rule at 80% confidence ...`."""
        rule = (
            f"guaranteed rule at {self.confidence:.0%} confidence"
            if self.rule == "guaranteed"
            else "empirical rule"
        )
        topic = "no" if self.topic_target_fpr is None else f"{self.topic_target_fpr:g}"
        return (
            f"{rule}, scam FPR <= {self.scam_target_fpr:g}, {topic} topic FPR ceiling, "
            f"tuned on {self.tune_on}"
        )

    def record(self) -> dict:
        """The settings as a trainer records them in its bundle's config.

        The rule and its confidence are added only for the guaranteed rule, so that records
        of empirical tuning stay exactly as they were before the rule existed.
        """
        out = {
            "scam_target_fpr": self.scam_target_fpr,
            "topic_target_fpr": self.topic_target_fpr,
            "tune_on": self.tune_on,
        }
        if self.rule != "empirical":
            out.update(threshold_rule=self.rule, confidence=self.confidence)
        return out

    def tune(self, gold: Sequence[str], heads) -> dict:
        """Tune both thresholds on `(N, 2)` head scores `[p_scam, p_topic]` (see
        `tune_thresholds`); the result's `tuning` also records the targets and the rule.

        Raises:
            ValueError: on bad inputs (see `tune_threshold`).
        """
        heads = np.asarray(heads, dtype=np.float64).reshape(-1, 2)
        tuned = tune_thresholds(
            gold,
            heads[:, 0],
            heads[:, 1],
            scam_target_fpr=self.scam_target_fpr,
            topic_target_fpr=self.topic_target_fpr,
            rule=self.rule,
            confidence=self.confidence,
        )
        tuned["tuning"].update(
            scam_target_fpr=self.scam_target_fpr,
            topic_target_fpr=self.topic_target_fpr,
            scam_threshold_rule=self.rule,
        )
        if self.rule == "guaranteed":
            tuned["tuning"]["confidence"] = self.confidence
        return tuned


def threshold_problems(values: Mapping[str, Any]) -> list[ConfigProblem]:
    """Problems with `ThresholdPolicy` field values; missing fields take the defaults.
    Callers name the field as their user knows it (a TOML key, a CLI flag)."""
    v = {**{f.name: f.default for f in fields(ThresholdPolicy)}, **values}
    problems = []
    unknown = sorted(set(v) - {f.name for f in fields(ThresholdPolicy)})
    problems += [ConfigProblem(name, "unknown threshold setting") for name in unknown]
    if not _is_fraction(v["scam_target_fpr"], upper_open=True):
        problems.append(
            ConfigProblem(
                "scam_target_fpr", f"expected a float in (0, 1), found {v['scam_target_fpr']!r}"
            )
        )
    if v["topic_target_fpr"] is not None and not _is_fraction(
        v["topic_target_fpr"], upper_open=True
    ):
        problems.append(
            ConfigProblem(
                "topic_target_fpr",
                "expected a float in (0, 1), or none for no ceiling (leave the key out), "
                f"found {v['topic_target_fpr']!r}",
            )
        )
    if v["tune_on"] not in TUNE_CHOICES:
        problems.append(
            ConfigProblem(
                "tune_on", f"expected one of {', '.join(TUNE_CHOICES)}, found {v['tune_on']!r}"
            )
        )
    if v["rule"] not in RULES:
        problems.append(
            ConfigProblem("rule", f"expected one of {', '.join(RULES)}, found {v['rule']!r}")
        )
    if not _is_fraction(v["confidence"], upper_open=True):
        problems.append(
            ConfigProblem("confidence", f"expected a float in (0, 1), found {v['confidence']!r}")
        )
    return problems


def _is_fraction(value, *, upper_open: bool = False) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0.0 < value < 1.0 if upper_open else 0.0 < value <= 1.0


#: The policy of `janitr run` and of every `janitr train` verb unless told otherwise.
DEFAULT_POLICY = ThresholdPolicy()


@dataclass(frozen=True)
class ThresholdResult:
    """A tuned threshold and the confusion counts it gives on the tuning data.

    Attributes:
        threshold: predict positive when score >= threshold (`DISABLED` if disabled).
        disabled: no threshold met the constraint with a positive recall (or F1).
        objective: what was maximized (`recall` or `f1`).
        target_fpr: the FPR ceiling, or None.
        tp, fp, fn, tn: counts at the threshold.
        precision, recall, f1, fpr: metrics at the threshold (0 on zero denominators).
        positives, negatives: rows with gold positive / negative.
    """

    threshold: float
    disabled: bool
    objective: str
    target_fpr: float | None
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float
    recall: float
    f1: float
    fpr: float
    positives: int
    negatives: int

    def to_dict(self) -> dict:
        return asdict(self)


def _safe(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _sweep(y: np.ndarray, s: np.ndarray, eligible: np.ndarray | None = None):
    """Counts for every candidate threshold, highest first.

    Candidate 0 is `DISABLED` (nothing predicted positive); candidate k >= 1 is the k-th
    largest distinct score among eligible rows. Rows that are not eligible are never
    predicted positive but still count as gold positives/negatives.

    Returns:
        thresholds (K+1,), tp (K+1,), fp (K+1,) as arrays.
    """
    cand_mask = np.ones(y.shape, dtype=bool) if eligible is None else eligible
    ys, ss = y[cand_mask], s[cand_mask]
    order = np.argsort(-ss, kind="mergesort")
    ss, ys = ss[order], ys[order]
    last = np.r_[np.flatnonzero(np.diff(ss)), ss.size - 1] if ss.size else np.array([], int)
    tp = np.cumsum(ys)[last] if ss.size else np.array([])
    fp = (last + 1) - tp
    thresholds = np.r_[DISABLED, ss[last]]
    return thresholds, np.r_[0, tp].astype(np.int64), np.r_[0, fp].astype(np.int64)


def _result(threshold, disabled, objective, target_fpr, tp, fp, positives, negatives):
    fn = positives - tp
    tn = negatives - fp
    precision = float(_safe(tp, tp + fp))
    recall = float(_safe(tp, positives))
    f1 = float(_safe(2 * precision * recall, precision + recall))
    return ThresholdResult(
        threshold=float(threshold),
        disabled=bool(disabled),
        objective=objective,
        target_fpr=None if target_fpr is None else float(target_fpr),
        tp=int(tp),
        fp=int(fp),
        fn=int(fn),
        tn=int(tn),
        precision=precision,
        recall=recall,
        f1=f1,
        fpr=float(_safe(fp, negatives)),
        positives=int(positives),
        negatives=int(negatives),
    )


def _check(y_true, scores, target_fpr, name: str = "target_fpr"):
    y = np.asarray(y_true).astype(np.int64).reshape(-1)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    if y.shape != s.shape:
        raise ValueError(f"y_true has {y.size} rows but scores have {s.size}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 and 1")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    if target_fpr is not None and not 0.0 <= float(target_fpr) <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {target_fpr}")
    return y, s


def _best_feasible(
    thresholds, tp, fp, feasible, target_fpr: float, positives: int, negatives: int
) -> ThresholdResult:
    """Among the feasible sweep candidates (a prefix; candidate 0 = DISABLED is always
    feasible), the highest recall, ties going to the highest threshold reaching it."""
    last_ok = int(np.flatnonzero(feasible)[-1])
    best_tp = tp[last_ok]
    # Highest threshold reaching that recall: first candidate with tp == best_tp.
    k = int(np.flatnonzero(tp == best_tp)[0])
    disabled = best_tp == 0
    if disabled:
        k = 0
    return _result(
        thresholds[k], disabled, "recall", target_fpr, tp[k], fp[k], positives, negatives
    )


def tune_threshold(y_true, scores, *, target_fpr: float) -> ThresholdResult:
    """The threshold maximizing recall subject to FPR <= target_fpr.

    Candidates: each distinct score, plus `DISABLED`. Among feasible candidates the highest
    recall wins, ties going to the higher threshold. If the best feasible recall is 0 (no
    positives, or no threshold keeps FPR within budget) the class is disabled.

    Args:
        y_true: 0/1 gold per row.
        scores: probability (or any score) per row; predict positive when score >= threshold.
        target_fpr: FPR ceiling on the tuning data, in [0, 1].

    Returns:
        the chosen ThresholdResult.

    Raises:
        ValueError: on mismatched lengths, non-binary labels, non-finite scores or a target
            outside [0, 1].
    """
    y, s = _check(y_true, scores, target_fpr)
    positives = int(y.sum())
    negatives = int(y.size - positives)
    thresholds, tp, fp = _sweep(y, s)
    fpr = _safe(fp, negatives)
    # fp is non-decreasing along the sweep, so the feasible candidates are a prefix; a tiny
    # tolerance keeps e.g. 2/100 <= 0.02 feasible despite float rounding.
    feasible = fpr <= float(target_fpr) + 1e-12
    return _best_feasible(thresholds, tp, fp, feasible, target_fpr, positives, negatives)


def tune_topic_threshold(
    gold: Sequence[str],
    p_scam,
    p_topic,
    *,
    t_scam: float,
    target_fpr: float | None = None,
) -> ThresholdResult:
    """The topic threshold maximizing topic_crypto F1 under the decision rule.

    A row is predicted topic_crypto iff p_scam < t_scam and p_topic >= t_topic; the gold
    positives are rows whose collapsed class is topic_crypto. Ties in F1 go to the higher
    threshold; with `target_fpr`, only thresholds with topic FPR <= target are considered.

    Args:
        gold: collapsed gold class name per row.
        p_scam: scam-head probability per row.
        p_topic: topic-head probability per row.
        t_scam: the (already tuned) scam threshold.
        target_fpr: optional topic FPR ceiling.

    Returns:
        the chosen ThresholdResult (`disabled` if no threshold gives a positive F1).

    Raises:
        ValueError: on mismatched lengths, unknown classes or an out-of-range target.
    """
    gold = np.asarray(list(gold))
    unknown = set(gold.tolist()) - set(CLASSES)
    if unknown:
        raise ValueError(f"unknown class(es) {sorted(unknown)}; expected {CLASSES}")
    y, s = _check((gold == TOPIC).astype(np.int64), p_topic, target_fpr)
    ps = np.asarray(p_scam, dtype=np.float64).reshape(-1)
    if ps.shape != s.shape:
        raise ValueError(f"p_scam has {ps.size} rows but p_topic has {s.size}")
    positives = int(y.sum())
    negatives = int(y.size - positives)
    thresholds, tp, fp = _sweep(y, s, eligible=ps < t_scam)
    fn = positives - tp
    f1 = _safe(2 * tp, 2 * tp + fp + fn)
    if target_fpr is not None:
        f1 = np.where(_safe(fp, negatives) <= float(target_fpr) + 1e-12, f1, -1.0)
    k = int(np.argmax(f1))  # first maximum = highest threshold
    disabled = bool(f1[k] <= 0)
    if disabled:
        k = 0
    return _result(thresholds[k], disabled, "f1", target_fpr, tp[k], fp[k], positives, negatives)


def fpr_upper_bound(fp, negatives, *, confidence: float = 0.95):
    """One-sided Clopper-Pearson upper confidence bound on an FPR of `fp / negatives`.

    The exact binomial bound: the largest p with P(Binomial(negatives, p) <= fp) >=
    1 - confidence, i.e. the `confidence` quantile of Beta(fp + 1, negatives - fp). It is 1
    when fp == negatives or there are no negatives. Works elementwise on arrays.
    """
    from scipy.stats import beta

    fp = np.asarray(fp, dtype=np.float64)
    n = np.asarray(fp * 0 + negatives, dtype=np.float64)
    out = np.ones(np.broadcast(fp, n).shape)
    ok = fp < n
    if np.any(ok):
        a = np.broadcast_to(fp, out.shape)[ok] + 1.0
        b = np.broadcast_to(n, out.shape)[ok] - np.broadcast_to(fp, out.shape)[ok]
        out[ok] = beta.ppf(confidence, a, b)
    return out if out.shape else float(out)


def min_negatives_for_guarantee(target_fpr: float, confidence: float = 0.95) -> int:
    """Fewest negatives for which zero false positives certify FPR <= target_fpr.

    With k = 0 the Clopper-Pearson bound is 1 - (1 - confidence)^(1/n), so n must satisfy
    (1 - target)^n <= 1 - confidence: n = ceil(log(1 - confidence) / log(1 - target)).
    149 for 2% at 95%; each allowed false positive needs roughly 1/target more negatives.

    Raises:
        ValueError: if target_fpr or confidence is not in (0, 1).
    """
    if not 0.0 < target_fpr < 1.0 or not 0.0 < confidence < 1.0:
        raise ValueError(
            f"target_fpr and confidence must be in (0, 1), got {target_fpr}, {confidence}"
        )
    n = math.ceil(math.log(1.0 - confidence) / math.log(1.0 - target_fpr) - 1e-9)
    while (1.0 - target_fpr) ** n > 1.0 - confidence:  # guard against log rounding
        n += 1
    return n


def tune_threshold_guaranteed(
    y_true, scores, *, target_fpr: float, confidence: float = 0.95
) -> ThresholdResult:
    """The threshold maximizing recall subject to a certified FPR <= target_fpr.

    Like `tune_threshold`, but a candidate is feasible only if the one-sided Clopper-Pearson
    upper bound (`fpr_upper_bound`, at `confidence`) on its FPR is <= target_fpr. The bound
    grows with fp, so the feasible candidates are still a prefix of the sweep. With fewer
    than `min_negatives_for_guarantee(target_fpr, confidence)` negatives nothing is feasible
    and the class is disabled.

    Raises:
        ValueError: on bad inputs (see `tune_threshold`) or a confidence outside (0, 1).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    y, s = _check(y_true, scores, target_fpr)
    positives = int(y.sum())
    negatives = int(y.size - positives)
    thresholds, tp, fp = _sweep(y, s)
    if negatives:
        upper = np.asarray(fpr_upper_bound(fp, negatives, confidence=confidence))
        feasible = upper <= float(target_fpr) + 1e-12
    else:
        feasible = np.ones(fp.shape, dtype=bool)
    feasible[0] = True  # DISABLED predicts nothing: always allowed
    return _best_feasible(thresholds, tp, fp, feasible, target_fpr, positives, negatives)


def tune_thresholds(
    gold: Sequence[str],
    p_scam,
    p_topic,
    *,
    scam_target_fpr: float = DEFAULT_POLICY.scam_target_fpr,
    topic_target_fpr: float | None = DEFAULT_POLICY.topic_target_fpr,
    rule: str = DEFAULT_POLICY.rule,
    confidence: float = DEFAULT_POLICY.confidence,
) -> dict:
    """Tune both thresholds: scam at an FPR budget, then topic for F1 given the scam one.

    The search behind `ThresholdPolicy.tune`; its defaults are `DEFAULT_POLICY`'s.

    Args:
        gold: collapsed gold class name per row of the tuning data.
        p_scam: scam-head probability per row.
        p_topic: topic-head probability per row.
        scam_target_fpr: scam FPR ceiling on the tuning data.
        topic_target_fpr: optional topic FPR ceiling.
        rule: `empirical` (FPR on the tuning data <= target) or `guaranteed`
            (Clopper-Pearson upper bound on the FPR <= target at `confidence`).
        confidence: confidence of the `guaranteed` rule.

    Returns:
        `{"thresholds": {"scam", "topic_crypto"}, "tuning": {"rule", "rows", "scam": {...},
        "topic_crypto": {...}, "disabled": [classes], "negatives": {class: count}}}`.
        A disabled class has threshold `DISABLED`; the caller should warn the user.

    Raises:
        ValueError: on bad inputs (see `tune_threshold`).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    gold = [str(g) for g in gold]
    y_scam = np.array([g == SCAM for g in gold], dtype=np.int64)
    if rule == "guaranteed":
        scam = tune_threshold_guaranteed(
            y_scam, p_scam, target_fpr=scam_target_fpr, confidence=confidence
        )
    else:
        scam = tune_threshold(y_scam, p_scam, target_fpr=scam_target_fpr)
    topic = tune_topic_threshold(
        gold, p_scam, p_topic, t_scam=scam.threshold, target_fpr=topic_target_fpr
    )
    out = {
        "thresholds": {SCAM: scam.threshold, TOPIC: topic.threshold},
        "tuning": {
            "rule": DECISION_RULE,
            "rows": len(gold),
            SCAM: scam.to_dict(),
            TOPIC: topic.to_dict(),
            "disabled": [name for name, r in ((SCAM, scam), (TOPIC, topic)) if r.disabled],
            "negatives": {SCAM: scam.negatives, TOPIC: topic.negatives},
        },
    }
    if rule == "guaranteed":
        # Only added for the guaranteed rule, so empirical results stay exactly as before.
        out["tuning"]["scam_rule"] = {
            "rule": rule,
            "confidence": confidence,
            "fpr_upper_bound": float(
                fpr_upper_bound(scam.fp, scam.negatives, confidence=confidence)
            ),
            "min_negatives": min_negatives_for_guarantee(scam_target_fpr, confidence)
            if 0.0 < scam_target_fpr < 1.0
            else None,
        }
    return out
