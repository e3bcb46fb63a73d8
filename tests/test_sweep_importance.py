"""``SweepResult.importance``: shares of variance on problems whose shares are known.

The metric is a sum of one term per dimension, each a function of the coordinate the
dimension is sampled on, so the true shares are the terms' variances over the total
(computed below in float64 by Monte Carlo over the same uniform coordinates).
"""

import math

import numpy as np
import pytest

from optfn import sweep

pytest.importorskip("optuna")
pytest.importorskip("sklearn")

SPACE = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "b1": sweep.one_minus_log_uniform(0.9, 0.999),
                     "hidden": sweep.int_uniform(50, 100), "act": sweep.choice("relu", "tanh", "gelu"),
                     "batch": 128})
EFFECT = {"relu": 0.0, "tanh": 1.0, "gelu": 0.5}


def terms(hp):
    """One term per dimension, each a function of its sampled coordinate."""
    return {"lr": (math.log10(hp["lr"]) + 2.0) ** 2,  # U(-4, 0) coordinate: variance 1.4222
            "b1": 1.5 * math.log10(1 - hp["b1"]),  # U(-3, -1): variance 1.5**2 * 4/12 = 0.75
            "hidden": 0.01 * hp["hidden"],  # U{50..100}: variance 1e-4 * (51**2 - 1)/12
            "act": EFFECT[hp["act"]]}  # variance of (0, 1, 0.5) uniform: 1/6


def true_shares(noise_var=0.0):
    var = {"lr": 16 / 5 - (4 / 3) ** 2, "b1": 1.5 ** 2 * 4 / 12, "hidden": 1e-4 * (51 ** 2 - 1) / 12, "act": 1 / 6}
    total = sum(var.values()) + noise_var
    return {k: v / total for k, v in var.items()}, noise_var / total


def result_of(n, seeds=1, sigma=0.0, seed=0):
    rng = np.random.default_rng(seed)
    trials = []
    for i, hp in enumerate(SPACE.sample(n, seed=seed)):
        f = sum(terms(hp).values())
        reps = f + sigma * rng.standard_normal(seeds)
        m = float(reps.mean())
        trials.append({"id": i, "hyperparams": hp, "status": "ok", "steps": 10, "metric": m,
                       "replica_metrics": reps.tolist(), "history": {"step": [0, 10], "loss": [1.0, m],
                                                                    "metric": [9.0, m]}})
    return sweep.SweepResult(trials, space=SPACE, seeds=seeds)


@pytest.fixture(scope="module")
def clean():
    return result_of(300)


def test_fanova_shares_match_the_analytic_ones(clean):
    """300 configurations, 16 trees: each share within 0.07 of the true one (the forest
    books about 0.1 of an additive metric's variance as interactions at this size)."""
    imp = clean.importance(n_trees=16)
    want, _ = true_shares()
    assert imp.order() == sorted(want, key=want.get, reverse=True) == ["lr", "b1", "act", "hidden"]
    for name, share in want.items():
        assert imp.shares[name] == pytest.approx(share, abs=0.07), name
    assert imp.noise is None and imp.interactions < 0.15 and imp.step == 10 and imp.trials == 300
    assert "batch" not in imp.shares  # fixed: never varied


def test_seed_noise_is_its_own_share():
    sigma = 0.9
    imp = result_of(200, seeds=4, sigma=sigma, seed=1).importance(n_trees=16)
    want, noise = true_shares(sigma ** 2)
    assert imp.noise == pytest.approx(noise, abs=0.05)
    assert imp.shares["lr"] == pytest.approx(want["lr"], abs=0.1)
    assert imp.order()[:2] == ["lr", "b1"]
    assert sum(imp.shares.values()) + imp.noise + imp.interactions == pytest.approx(1.0)


def test_agrees_with_optunas_evaluator_in_the_sampled_coordinates(clean):
    """The same forest (seed) on a study built by hand in the sampled coordinates."""
    import optuna

    dists = {"lr": optuna.distributions.FloatDistribution(-4, 0),
             "b1": optuna.distributions.FloatDistribution(-3, -1),
             "hidden": optuna.distributions.IntDistribution(50, 100),
             "act": optuna.distributions.IntDistribution(0, 2)}  # a choice's index
    study = optuna.create_study()
    for t in clean.trials:
        hp = t["hyperparams"]
        study.add_trial(optuna.trial.create_trial(
            params={"lr": math.log10(hp["lr"]), "b1": math.log10(1 - hp["b1"]), "hidden": hp["hidden"],
                    "act": ["relu", "tanh", "gelu"].index(hp["act"])}, distributions=dists, value=t["metric"]))
    theirs = optuna.importance.FanovaImportanceEvaluator(n_trees=16, seed=3).evaluate(study)
    ours = clean.importance(n_trees=16, seed=3)
    for name in dists:
        assert ours.shares[name] == pytest.approx(theirs[name], rel=1e-9)
    ped = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=0.2).evaluate(study)
    total = sum(ped.values())
    ours = clean.importance("ped_anova", quantile=0.2)
    for name in dists:
        assert ours.shares[name] == pytest.approx(ped[name] / total, rel=1e-9)


def test_equal_budget_step_and_plot(tmp_path):
    """Halved trials stop early: by default every configuration is read at the last step
    all of them reached; ``plot_importance`` writes the chart."""
    res = result_of(40)
    for t in res.trials[::2]:  # stopped at step 0's successor: only step 0 is common... give them a rung
        t["history"] = {"step": [0, 5], "loss": [1.0, 1.0], "metric": [9.0, t["metric"] + 1]}
        t["steps"] = 5
    for t in res.trials[1::2]:
        t["history"]["step"], t["history"]["metric"] = [0, 5, 10], [9.0, t["metric"], t["metric"]]
        t["history"]["loss"] = [1.0, 1.0, 1.0]
    imp = res.importance(n_trees=8)
    assert imp.step == 5 and imp.trials == 40
    assert res.importance(n_trees=8, step=10).trials == 20
    res.plot_importance(str(tmp_path / "imp.png"), n_trees=8)
    assert (tmp_path / "imp.png").stat().st_size > 1000


@pytest.mark.parametrize("kwargs, match", [({"method": "forest"}, "method must be 'fanova' or 'ped_anova'"),
                                           ({"quantile": 1.5}, "quantile must be a float in"),
                                           ({"n_trees": 0}, "n_trees must be an int >= 1"),
                                           ({"step": 7}, "at least 4 finished configurations evaluated at step 7")])
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        result_of(8).importance(**kwargs)


def test_the_sweep_plot_marks_the_pick_choices_and_cuts_blow_ups(tmp_path):
    """``SweepResult.plot``: a categorical axis for a choice, the pick starred, the axis
    cut above the bulk where a few configurations blew up (and the cut counted)."""
    from optfn.sweep._plot import robust_limits

    res = result_of(40)
    for t in res.trials[:3]:
        t["metric"] = 1e6  # blow-ups
    res.trials[5]["test_metric"] = 1.0
    fig = res.plot(str(tmp_path / "s.png"))
    act = fig.axes[list(SPACE.dimensions).index("act")]
    assert [label.get_text() for label in act.get_xticklabels()] == ["relu", "tanh", "gelu"]
    assert any("beyond the axis" in t.get_text() and t.get_text().startswith("3") for t in act.texts)
    assert act.get_ylim()[1] < 1e3
    assert (tmp_path / "s.png").stat().st_size > 1000
    assert robust_limits(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), "min") is None  # nothing to cut
