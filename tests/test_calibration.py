"""Temperature scaling: recovers a planted temperature, lowers NLL, draws the diagram."""

from __future__ import annotations

import math

import numpy as np
import pytest

from extras import needs
from janitr.teacher.calibration import (
    binary_nll,
    calibrate_heads,
    fit_temperature,
    reliability_diagram,
    sigmoid,
)


def synthetic(n=4000, overconfidence=3.0, seed=0):
    rng = np.random.default_rng(seed)
    z_true = rng.normal(0, 1.5, n)
    y = (rng.random(n) < sigmoid(z_true)).astype(int)
    return y, z_true * overconfidence


def test_binary_nll_matches_direct_formula():
    y = np.array([0, 1, 1, 0])
    z = np.array([-2.0, 0.5, 3.0, 1.0])
    p = 1 / (1 + np.exp(-z / 2))
    direct = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert binary_nll(y, z, 2.0) == pytest.approx(direct)


def test_fit_temperature_recovers_overconfidence_and_matches_brute_force():
    y, z = synthetic()
    t = fit_temperature(y, z)
    assert t == pytest.approx(3.0, rel=0.15)
    grid = np.exp(np.linspace(math.log(0.05), math.log(20), 5000))
    brute = grid[np.argmin([binary_nll(y, z, g) for g in grid])]
    assert t == pytest.approx(brute, rel=0.01)
    assert binary_nll(y, z, t) < binary_nll(y, z)


@needs("matplotlib")
def test_calibrate_heads_reduces_nll_and_ece(tmp_path):
    y_s, z_s = synthetic(seed=1, overconfidence=4.0)
    y_t, z_t = synthetic(seed=2, overconfidence=0.3)  # underconfident head: T < 1
    scam_logits = np.stack([-z_s / 2, z_s / 2], axis=1)
    cal = calibrate_heads(scam_logits=scam_logits, topic_logits=z_t, y_scam=y_s, y_topic=y_t)
    assert cal.temperatures["scam"] > 1 > cal.temperatures["topic"]
    for head in ("scam", "topic"):
        rep = cal.report["heads"][head]
        assert rep["nll"]["after"] < rep["nll"]["before"]
        assert rep["ece"]["after"] < rep["ece"]["before"]
        assert rep["brier"]["after"] <= rep["brier"]["before"] + 1e-9
    png = reliability_diagram(cal.report, tmp_path / "rel.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
