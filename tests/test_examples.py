"""The examples run top to bottom and reach the accuracy they promise."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def test_train_digits_learns():
    pytest.importorskip("sklearn")
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "train_digits.py"), "--steps", "200"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    last = out.strip().splitlines()[-1]
    test_acc = float(last.split("test accuracy")[1])
    assert test_acc > 0.9, out


def test_babysitting_lowers_the_rate_without_recompiling():
    pytest.importorskip("sklearn")
    out = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "babysitting.py"), "--chunks", "8", "--steps-per-chunk", "40"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout
    assert "learning rate -> 1e-02" in out, out
    last = out.strip().splitlines()[-1]
    assert last.startswith("compiled programs: 1 "), out
    assert float(last.split("test accuracy")[1]) > 0.9, out
