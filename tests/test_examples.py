"""The examples run top to bottom and reach the accuracy they promise."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def _run(script, *args) -> str:
    pytest.importorskip("sklearn")
    return subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, script), *args],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout


def _test_accuracy(out: str) -> float:
    return float(out.strip().splitlines()[-1].split("test accuracy")[1])


def test_train_digits_learns():
    out = _run("train_digits.py", "--steps", "200")
    assert _test_accuracy(out) > 0.9, out


def test_babysitting_lowers_the_rate_without_recompiling():
    out = _run("babysitting.py", "--chunks", "8", "--steps-per-chunk", "40")
    assert "learning rate -> 1e-02" in out, out
    assert out.strip().splitlines()[-1].startswith("compiled programs: 1 "), out
    assert _test_accuracy(out) > 0.9, out


def test_mlp_batchnorm_learns_and_tests_with_running_averages():
    out = _run("mlp_batchnorm.py", "--steps", "150")
    assert _test_accuracy(out) > 0.95, out


def test_sweep_digits_runs_two_rounds_and_saves_a_plot(tmp_path):
    out = _run("sweep_digits.py", "--trials", "24", "--steps", "60", "--out", str(tmp_path / "s.png"))
    assert "round 1 (coarse)" in out and "round 2 (zoomed)" in out, out
    best = float(out.split("best: validation loss")[1].split()[0])
    assert best < 1.0, out
    assert (tmp_path / "s.png").stat().st_size > 0
