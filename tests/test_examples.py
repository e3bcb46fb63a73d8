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


@pytest.mark.slow  # training on digits: test_cli.py's sweeps and the README's examples, in the default run
def test_train_digits_learns():
    out = _run("train_digits.py", "--steps", "200")
    assert _test_accuracy(out) > 0.9, out


@pytest.mark.slow
def test_babysitting_lowers_the_rate_without_recompiling():
    out = _run("babysitting.py", "--chunks", "8", "--steps-per-chunk", "40")
    assert "learning rate -> 1e-02" in out, out
    assert out.strip().splitlines()[-1].startswith("compiled programs: 1 "), out
    assert _test_accuracy(out) > 0.9, out


@pytest.mark.slow  # batch norm's statistics: tests/test_batch_norm.py, in the default run
def test_mlp_batchnorm_learns_and_tests_with_running_averages():
    out = _run("mlp_batchnorm.py", "--steps", "150")
    assert _test_accuracy(out) > 0.95, out


@pytest.mark.slow  # coarse to fine on digits with confirmation: test_cli.py's sweep, in the default run
def test_sweep_digits_runs_two_rounds_and_saves_a_plot(tmp_path):
    out = _run("sweep_digits.py", "--trials", "24", "--steps", "60", "--out", str(tmp_path / "s.png"))
    assert "round 1 (coarse)" in out and "round 2 (zoomed)" in out, out
    best = float(out.split("best: validation loss")[1].split()[0])
    assert best < 1.0, out
    assert (tmp_path / "s.png").stat().st_size > 0


@pytest.mark.slow  # optax inside optfn and back: test_optax_parity.py, in the default run
def test_compose_mixes_optfn_and_optax_both_ways():
    out = _run("compose.py")
    assert out.strip().splitlines()[-1] == "by hand == alias: True; mixed chains == optax alone: True", out


@pytest.mark.slow
def test_optimizers_compared_prints_every_optimizer_and_plots(tmp_path):
    out = _run("optimizers_compared.py", "--out", str(tmp_path / "c.png"))
    for name in ("SGD", "momentum", "Nesterov", "AdaGrad", "RMSProp", "AdaDelta", "Adam"):
        assert f"\n{name} " in out, out
    adam = out.split("\nAdam ")[1].split()
    assert float(adam[0]) < 1e-2 and float(adam[1]) < 0.3, out  # Rosenbrock and digits both go down
    assert (tmp_path / "c.png").stat().st_size > 0


def test_schedules_prints_the_notes_values_and_plots(tmp_path):
    out = _run("schedules.py", "--out", str(tmp_path / "s.png"))
    inverse_time = out.split("a0 / (1 + 1.0 * epoch)")[1].split()[:3]
    assert inverse_time == ["0.2000", "0.1000", "0.0667"], out
    assert (tmp_path / "s.png").stat().st_size > 0


@pytest.mark.slow  # flax models in a sweep: test_sweep_models.py, in the default run
def test_flax_nnx_model_trains_with_optfn():
    pytest.importorskip("flax")
    out = _run("flax_model.py", "--steps", "150")
    assert "batch-norm steps counted: 150 " in out and _test_accuracy(out) > 0.9, out


@pytest.mark.slow  # importance's shares: test_sweep_importance.py, in the default run
def test_importance_runs_the_notes_search_and_orders_the_hyperparameters():
    out = _run("importance.py", "--trials", "24", "--steps", "30")
    assert "share of the validation loss's variance" in out and "PED-ANOVA" in out
    assert "this sweep's:" in out and "learning_rate" in out.split("this sweep's:")[1]
