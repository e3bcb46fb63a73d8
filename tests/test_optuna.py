"""Optuna's batch ask-and-tell with an in-memory study."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

optuna = pytest.importorskip("optuna")
from optfn.integrations.optuna import distributions, optimize  # noqa: E402

X = jax.random.normal(jax.random.PRNGKey(0), (128, 4))
DATA = {"x": X, "y": X @ jnp.array([1.0, -2.0, 0.5, 3.0])}


def _runner():
    loss = lambda p, b: jnp.mean((b["x"] @ p - b["y"]) ** 2)  # noqa: E731
    return sweep.Runner(init=lambda key, hp: jnp.zeros(4), loss=loss, data=DATA, evaluate=loss, eval_data=DATA,
                        optimizer=lambda h: optfn.sgd(h["lr"], momentum=h["m"]), steps=40, chunk_steps=20,
                        batch_size=16)


SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 50.0), "m": sweep.one_minus_log_uniform(0.5, 0.99)})


def test_batches_are_asked_trained_together_and_told_back():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    results = optimize(study, _runner(), SPACE, n_trials=24, batch_size=12)
    assert len(results) == 2 and len(study.trials) == 24
    states = [t.state for t in study.trials]
    told = {t.number: t for t in study.trials}
    ours = {t["id"]: t for r in results for t in r.trials}
    assert set(ours) == set(told)
    for number, trial in told.items():
        if ours[number]["status"] == "ok":
            assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == ours[number]["metric"]
            assert trial.intermediate_values == dict(zip(ours[number]["history"]["step"],
                                                         ours[number]["history"]["metric"]))
        else:  # learning rates up to 50 blow up: told as failures, not crashes
            assert trial.state == optuna.trial.TrialState.FAIL
        m = 1 - trial.params["1-m"]
        assert 0.5 <= m <= 0.99 and np.isclose(ours[number]["hyperparams"]["m"], m)
    assert optuna.trial.TrialState.FAIL in states and optuna.trial.TrialState.COMPLETE in states
    assert study.best_value == min(t["metric"] for r in results for t in r.trials if t["status"] == "ok")


def test_spaces_map_to_optuna_distributions_on_the_same_scale():
    d = distributions(sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "b": sweep.one_minus_log_uniform(0.9, 0.999),
                                   "h": sweep.choice(32, 64), "n": sweep.int_uniform(1, 3), "u": sweep.uniform(0, 1)}))
    assert d["lr"].log and d["1-b"].log and np.isclose(d["1-b"].low, 1e-3) and np.isclose(d["1-b"].high, 0.1)
    assert d["h"].choices == (32, 64) and (d["n"].low, d["n"].high) == (1, 3) and not d["u"].log


def test_a_study_in_the_other_direction_is_refused():
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ValueError, match="direction is MAXIMIZE but the runner's goal is 'min'"):
        optimize(study, _runner(), SPACE, n_trials=2)


@pytest.fixture(scope="module")
def halved():
    """16 configurations, halved at step 20 (half stop early); lr up to 50 diverges some."""
    return _runner().run(SPACE, 16, halving=2, min_steps=20, seed=3)


@pytest.mark.parametrize("where", ["memory", "sqlite"])
def test_a_sweep_becomes_a_study(halved, where, tmp_path):
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = None if where == "memory" else f"sqlite:///{tmp_path / 's.db'}"
    study = halved.to_optuna(storage=storage, study_name="s")
    if storage is not None:  # read back from the file, as the dashboard would
        study = optuna.load_study(study_name="s", storage=storage)
    assert len(study.trials) == 16
    states = {tr.user_attrs["id"]: tr.state for tr in study.trials}
    for t in halved.trials:
        tr = next(x for x in study.trials if x.user_attrs["id"] == t["id"])
        want = (TrialState.FAIL if t["status"] != "ok" else
                TrialState.COMPLETE if t["steps"] == 40 else TrialState.PRUNED)
        assert tr.state == want, t
        assert tr.params["lr"] == pytest.approx(t["hyperparams"]["lr"])
        assert 1 - tr.params["1-m"] == pytest.approx(t["hyperparams"]["m"])
        finite = {s: m for s, m in zip(t["history"]["step"], t["history"]["metric"]) if np.isfinite(m)}
        assert tr.intermediate_values == pytest.approx(finite)
        if want == TrialState.COMPLETE:
            assert tr.value == t["metric"]
    assert {TrialState.COMPLETE, TrialState.PRUNED} <= set(states.values())
    assert study.best_trial.user_attrs["id"] == halved.best()["id"]
    assert set(optuna.importance.get_param_importances(study)) == {"lr", "1-m"}  # Optuna's tools work on it
