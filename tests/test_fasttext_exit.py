"""Clean exits of `janitr train fasttext`: killed mid-training (SIGTERM, SIGINT, or SIGKILL of
the parent), it leaves no process behind and no `janitr-fasttext-*` folder with the training
text in it (issue #12 item 6). Linux only: the processes are read from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny_fasttext import write_tiny_splits

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc"),
]

#: Upper bound of every wait (a bound for a hung test, not a timing assert).
WAIT_S = 60


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else int(fields[1])  # a zombie counts as gone


def _descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (ppid := _ppid(int(entry.name))) is not None:
            parents[int(entry.name)] = ppid
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    return _ppid(pid) is not None


def _wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"gave up after {WAIT_S}s waiting for {what}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_kill_during_training_leaves_no_process_and_no_temp_dir(tmp_path, sig):
    data = write_tiny_splits(tmp_path / "data", n_train=3000)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # Epochs enough to train for minutes: the kill always lands mid-training.
    argv = [sys.executable, "-m", "janitr", "train", "fasttext", "--data", str(data),
            "--out", str(tmp_path / "bundle"), "--epoch", "100000", "--dim", "16",
            "--bucket", "20000", "--no-quantize"]  # fmt: skip
    parent = subprocess.Popen(
        argv, env={**os.environ, "TMPDIR": str(tmp)}, stderr=subprocess.PIPE, text=True,
        # A test run in the background (`make test &`) inherits SIGINT ignored; Python keeps
        # an ignored SIGINT ignored, so give the CLI the default a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    try:
        # Training runs once the child exists and the training text is written.
        temp_dirs = _wait_for(lambda: list(tmp.glob("janitr-fasttext-*")), "the temp folder")
        _wait_for(lambda: (temp_dirs[0] / "train.txt").is_file(), "the training text")
        children = _wait_for(lambda: _descendants(parent.pid), "the training process")
        parent.send_signal(sig)
        parent.wait(timeout=WAIT_S)
        _wait_for(lambda: not any(_alive(pid) for pid in children), "the children to exit")
        _wait_for(lambda: not list(tmp.glob("janitr-fasttext-*")), "the temp folder to go")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    if sig != signal.SIGKILL:  # the CLI unwinds: one line, no traceback
        err = parent.stderr.read()
        assert "Traceback" not in err, err
        assert parent.returncode in (128 + sig, 130), (parent.returncode, err)
    assert not (tmp_path / "bundle").exists()


def test_training_child_error_comes_back_as_a_message(tmp_path):
    """An exception in the child is reported by the parent as a typed error naming it."""
    from janitr.baselines.fasttext import FastTextConfig, _fit_in_fresh_process
    from janitr.errors import ConfigError

    missing = tmp_path / "no-such-train.txt"
    with pytest.raises(ConfigError, match=r"FileNotFoundError: .*no-such-train.txt"):
        _fit_in_fresh_process(missing, FastTextConfig(dim=4, epoch=1, bucket=100), tmp_path)
