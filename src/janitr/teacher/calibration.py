"""Per-head temperature scaling of teacher logits, with before/after diagnostics.

Each head gets one temperature T, fitted on validation logits by minimizing the binary
negative log-likelihood of sigmoid(z / T), where z is the head's binary logit (for the
two-way scam softmax, z = logit[scam] - logit[not scam], so softmax(logits / T) and
sigmoid(z / T) agree). The search is a coarse log-spaced grid over [0.05, 20] refined by a
golden-section search, so it needs neither scipy nor torch and is deterministic.

Reported per head: NLL, ECE (10 bins) and Brier score before and after, and the reliability
table; `reliability_diagram` draws both heads' curves before and after into one PNG.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from janitr.errors import ConfigError

T_MIN, T_MAX = 0.05, 20.0
_EPS = 1e-7
HEADS: tuple[str, str] = ("scam", "topic")


def sigmoid(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -z))


def binary_nll(y: np.ndarray, z: np.ndarray, temperature: float = 1.0) -> float:
    """Mean binary NLL of labels `y` (0/1) under sigmoid(z / temperature), computed stably."""
    y = np.asarray(y, dtype=np.float64)
    s = np.asarray(z, dtype=np.float64) / temperature
    # -[y log p + (1-y) log(1-p)] with p = sigmoid(s) equals softplus(s) - y*s.
    return float(np.mean(np.logaddexp(0.0, s) - y * s)) if y.size else 0.0


def fit_temperature(y, z, *, t_min: float = T_MIN, t_max: float = T_MAX) -> float:
    """Temperature in [t_min, t_max] minimizing `binary_nll(y, z, T)`.

    A 200-point log grid brackets the minimum; 60 golden-section steps on log T refine it.

    Raises:
        ConfigError: if the bounds are not 0 < t_min < t_max.
    """
    if not 0 < t_min < t_max:
        raise ConfigError(f"temperature bounds must satisfy 0 < min < max, got {t_min}, {t_max}")
    y = np.asarray(y, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if y.size == 0:
        return 1.0
    grid = np.linspace(math.log(t_min), math.log(t_max), 200)
    losses = [binary_nll(y, z, math.exp(g)) for g in grid]
    k = int(np.argmin(losses))
    lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, len(grid) - 1)]
    ratio = (math.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = binary_nll(y, z, math.exp(a)), binary_nll(y, z, math.exp(b))
    for _ in range(60):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = binary_nll(y, z, math.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = binary_nll(y, z, math.exp(b))
    best = (lo + hi) / 2
    # Never return something worse than the best grid point (flat or non-convex corners).
    if binary_nll(y, z, math.exp(best)) > losses[k]:
        best = grid[k]
    return float(math.exp(best))


def scam_binary_logit(scam_logits: np.ndarray) -> np.ndarray:
    """(N, 2) scam-head logits -> (N,) binary logit z = logit[1] - logit[0]."""
    scam_logits = np.asarray(scam_logits, dtype=np.float64)
    return scam_logits[:, 1] - scam_logits[:, 0]


@dataclass(frozen=True)
class Calibration:
    """Fitted temperatures and the before/after report."""

    temperatures: dict[str, float]
    report: dict

    def to_dict(self) -> dict:
        return {"temperatures": dict(self.temperatures), "report": self.report}


def _head_report(y: np.ndarray, z: np.ndarray, t: float) -> dict:
    from janitr.evaluation.metrics import head_calibration

    before = head_calibration(y, sigmoid(z))
    after = head_calibration(y, sigmoid(z / t))
    return {
        "temperature": t,
        "rows": int(y.size),
        "positives": int(y.sum()),
        "nll": {"before": binary_nll(y, z), "after": binary_nll(y, z, t)},
        "ece": {"before": before["ece"], "after": after["ece"]},
        "brier": {"before": before["brier"], "after": after["brier"]},
        "bins": {"before": before["bins"], "after": after["bins"]},
    }


def calibrate_heads(
    *, scam_logits: np.ndarray, topic_logits: np.ndarray, y_scam, y_topic, data: str = "valid"
) -> Calibration:
    """Fit one temperature per head on held-out logits and report before/after metrics.

    Args:
        scam_logits: (N, 2) raw scam-head logits.
        topic_logits: (N,) raw topic-head logits.
        y_scam: (N,) 0/1 scam targets.
        y_topic: (N,) 0/1 topic targets.
        data: name of the data the temperatures were fitted on (recorded in the report).
    """
    y_scam = np.asarray(y_scam, dtype=np.float64)
    y_topic = np.asarray(y_topic, dtype=np.float64)
    z = {"scam": scam_binary_logit(scam_logits), "topic": np.asarray(topic_logits, np.float64)}
    y = {"scam": y_scam, "topic": y_topic}
    temps = {h: fit_temperature(y[h], z[h]) for h in HEADS}
    report = {"data": data, "heads": {h: _head_report(y[h], z[h], temps[h]) for h in HEADS}}
    return Calibration(temperatures=temps, report=report)


def apply_temperatures(
    scam_logits: np.ndarray, topic_logits: np.ndarray, temperatures: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated logits: scam (N, 2) / T_scam, topic (N,) / T_topic."""
    return (
        np.asarray(scam_logits, np.float64) / temperatures["scam"],
        np.asarray(topic_logits, np.float64) / temperatures["topic"],
    )


def reliability_diagram(report: Mapping, out_path: str | Path) -> Path:
    """Draw both heads' reliability curves before and after calibration into a PNG.

    Args:
        report: `Calibration.report`.
        out_path: PNG path to write.
    """
    from janitr.artifacts import atomic_path
    from janitr.errors import require

    require("matplotlib", extra="train").use("Agg")
    import matplotlib.pyplot as plt

    out_path = Path(out_path)
    fig, axes = plt.subplots(1, len(report["heads"]), figsize=(5 * len(report["heads"]), 4.6))
    for ax, (head, rep) in zip(np.atleast_1d(axes), report["heads"].items(), strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfect")
        for stage, style in (("before", "o--"), ("after", "s-")):
            bins = [b for b in rep["bins"][stage] if b["count"] > 0]
            ax.plot(
                [b["mean_conf"] for b in bins],
                [b["empirical_acc"] for b in bins],
                style,
                label=f"{stage} (ECE {rep['ece'][stage]:.3f})",
            )
        ax.set_title(
            f"{head} head, T = {rep['temperature']:.2f} ({report.get('data', '')}, "
            f"n = {rep['rows']})"
        )
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed positive rate")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left")
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
    return out_path
