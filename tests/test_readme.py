"""The README's Python example gives the answer it shows (issue #12 item 7): the demo's
fastText bundle, trained as `make demo` trains it (configs/fast.toml on the demo data),
labels the example's scam text `scam`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> tuple[str, str, str]:
    """(bundle name, text, label shown) of the README's Python example."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    bundle = re.search(r'Classifier\.load\("runs/demo/bundles/([\w-]+)"\)', block).group(1)
    text = re.search(r'clf\.predict\(\["([^"]+)"\]\)', block).group(1)
    label = re.search(r"# \('(\w+)'", block).group(1)
    return bundle, text, label


@pytest.mark.integration
def test_readme_example_is_right_with_the_demo_fasttext_bundle(tmp_path):
    from janitr.baselines.fasttext import train_fasttext
    from janitr.data.demo import write_demo_dataset
    from janitr.pipeline.config import load_config
    from janitr.runtime.classifier import Classifier

    bundle, text, label = _readme_example()
    assert (bundle, label) == ("fasttext", "scam")
    config = load_config(ROOT / "configs" / "fast.toml")
    data = write_demo_dataset(tmp_path / "data", rows=config.data.demo_rows, seed=config.run.seed)
    # The pipeline tunes every final bundle's thresholds with the run's `[thresholds]` policy.
    train_fasttext(
        data_dir=data,
        out_dir=tmp_path / "fasttext",
        config=config.fasttext,
        thresholds=config.thresholds,
    )
    pred = Classifier.load(tmp_path / "fasttext").predict([text])[0]
    assert pred.label == label, pred
