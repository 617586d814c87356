"""Tune a bundle's thresholds: `tune_bundle`, the one function that does it for any kind.

It scores labeled records with the bundle's own model (`evaluate.score_records`, the same
code path as `janitr evaluate`), tunes both thresholds with a `ThresholdPolicy`, and writes a
copy of the bundle with those thresholds, the tuning rows added to its seen data. Trainers
tune the scores they already hold with `ThresholdPolicy.tune`; `janitr run` tunes every final
bundle here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from janitr.data.records import Record, split_hash
from janitr.evaluation.evaluate import score_records
from janitr.evaluation.thresholds import ThresholdPolicy
from janitr.runtime.bundle import MANIFEST, SEEN_DATA, Bundle, load_bundle, seen_entry, write_bundle

log = logging.getLogger(__name__)


def tune_bundle(
    source: str | Path,
    out_dir: str | Path,
    *,
    records: Sequence[Record],
    policy: ThresholdPolicy,
    tuning_name: str | None = None,
) -> Bundle:
    """Copy a bundle with thresholds tuned on `records` with this very model.

    Args:
        source: the bundle to copy.
        out_dir: where the copy goes (replaced atomically).
        records: labeled tuning records (e.g. the rows of valid+calib).
        policy: targets, rule and confidence of the tuning.
        tuning_name: how the tuning rows are recorded (`tuning.data`, seen data);
            default `policy.tune_on`.

    Returns:
        The written Bundle.

    Raises:
        BundleError: if `source` is not a valid bundle.
        ValueError: on records without a gold class.
    """
    source = Path(source)
    name = tuning_name or policy.tune_on
    bundle = load_bundle(source)
    tuned = policy.tune([r.gold for r in records], score_records(bundle, records))
    for head in tuned["tuning"]["disabled"]:
        log.warning(
            "%s: no %s threshold meets the target on %s; the class is disabled",
            source.name,
            head,
            name,
        )
    manifest = bundle.manifest
    files = {f: source / f for f in manifest["files"] if f not in (MANIFEST, SEEN_DATA)}
    seen = bundle.seen_data()
    seen[name] = seen_entry([r.id for r in records], [r.text for r in records])
    data = dict(manifest.get("data", {}))
    data.setdefault(
        name, {"rows": len(records), "sha256": split_hash(records), "role": "threshold tuning"}
    )
    return write_bundle(
        out_dir,
        kind=bundle.kind,
        files=files,
        thresholds=tuned["thresholds"],
        tuning={**tuned["tuning"], "data": name},
        normalization=bundle.normalization,
        data=data,
        seen=seen,
        model=manifest.get("model", {}),
    )
