"""Training-only auxiliary heads on the scam kinds (issue #15 lever 3, docs/LEVERS.md
"Finer supervision"): the kinds, their targets and their loss, the one copy the teacher
(`TeacherConfig.group_weight`) and the student (`DistillConfig.group_weight`) use.

A group head is one logit per scam kind of the training labels (`janitr.data.labels.
scam_groups`: fraud, spam_promo, other), trained with BCE against the gold kinds next to the
model's own heads. It is never saved: the model, its outputs and its bundle are those of a
model trained without it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from janitr.errors import ConfigError, require


def group_kinds(records) -> tuple[str, ...]:
    """The scam kinds (`SCAM_KINDS` order) that occur among `records`' labels: the columns
    of the group heads.

    Raises:
        ConfigError: if no row is a scam (group heads would have nothing to learn).
    """
    from janitr.data.labels import scam_group_kinds

    kinds = scam_group_kinds(r.labels for r in records)
    if not kinds:
        raise ConfigError(
            "group_weight > 0 needs scam rows in the training data (none has a scam label); "
            "set group_weight to 0"
        )
    return kinds


def group_targets(records, kinds: Sequence[str]) -> np.ndarray:
    """(N, K) float32: 1 where row n has scam kind `kinds[k]` (`scam_groups` of its labels)."""
    from janitr.data.labels import scam_group_targets

    return scam_group_targets([r.labels for r in records], kinds).astype(np.float32)


def group_pos_weight(y_groups: np.ndarray) -> np.ndarray:
    """(K,) float32 BCE positive weight per kind, `n_neg / n_pos` over the rows of
    `y_groups` (N, K) (a kind without positives gets `n`)."""
    n = len(y_groups)
    n_kind = y_groups.sum(axis=0)
    return ((n - n_kind) / np.maximum(n_kind, 1)).astype(np.float32)


def group_loss(group_logits, y_groups, *, pos_weight=None, labeled=None):
    """BCE of the group heads against the gold scam kinds, mean over labeled rows and kinds.

    Shapes: group_logits (B, K), y_groups (B, K) float (1: the row has that kind),
    pos_weight (K,) or None; `labeled` (B,) bool as in the student's `hard_loss` (unlabeled
    rows have no kinds to learn: they are left out, and a batch without labeled rows gives 0).
    """
    F = require("torch.nn.functional", extra="train")

    bce = F.binary_cross_entropy_with_logits(
        group_logits, y_groups, pos_weight=pos_weight, reduction="none"
    )  # (B, K)
    if labeled is None:
        return bce.mean()
    if not bool(labeled.any()):
        return group_logits.sum() * 0.0
    return bce[labeled].mean()
