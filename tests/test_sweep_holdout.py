"""Dict metrics (``Runner(metric=)``) and the picks on test data (``Runner(test_data=)``).

The test metrics are checked against a float64 NumPy evaluation of each pick's own
trained params; the ranking against the named entry.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

W = np.array([1.0, -2.0, 0.5], np.float32)


def _data(seed, n):
    x = np.asarray(jax.random.normal(jax.random.key(seed), (n, 3)), np.float32)
    return {"x": x, "y": (x @ W + 0.3 * np.sin(3 * x[:, 0])).astype(np.float32)}


TRAIN, VAL, TEST = _data(0, 256), _data(1, 64), _data(2, 64)
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.5)})


def mse(w, b):
    return jnp.mean((b["x"] @ w - b["y"]) ** 2)


def metrics(w, b):
    r = b["x"] @ w - b["y"]
    return {"mse": jnp.mean(r ** 2), "mae": jnp.mean(jnp.abs(r))}


def _runner(**kw):
    kw = {"evaluate": metrics, "eval_data": VAL, "metric": "mae", **kw}
    return sweep.Runner(init=lambda key, hp: jnp.zeros(3), loss=mse, optimizer=lambda h: optfn.sgd(h["lr"]),
                        data=TRAIN, steps=40, chunk_steps=20, batch_size=32, **kw)


@pytest.fixture(scope="module")
def result():
    return _runner(test_data=TEST).run(SPACE, 16, seeds=2, seed=1)


def _np_metrics(w, b):
    r = np.asarray(b["x"], np.float64) @ np.asarray(w, np.float64) - b["y"]
    return {"mse": float(np.mean(r ** 2)), "mae": float(np.mean(np.abs(r)))}


def test_a_dict_metric_ranks_by_the_named_entry_and_records_all(result):
    ok = [t for t in result.trials if t["status"] == "ok"]
    for t in ok:
        assert set(t["metrics"]) == {"mse", "mae"} and t["metric"] == t["metrics"]["mae"]
        assert len(t["history"]["metrics"]["mse"]) == len(t["history"]["metric"]) == 3
        assert t["history"]["metrics"]["mae"] == t["history"]["metric"]
        for r in range(2):  # each replica's final params give its recorded metrics
            np.testing.assert_allclose(_np_metrics(result.params(t["id"], r), VAL)["mae"],
                                       t["replica_metrics"][r], rtol=2e-5)
    assert result.best()["metric"] == min(t["metrics"]["mae"] for t in ok)


def test_the_picks_are_measured_on_test_data(result):
    picks = {t["id"] for t in result.top(10)}
    assert len(picks) == 10
    for t in result.trials:
        if t["id"] not in picks:
            assert "test_metric" not in t  # only the picks: the rest were never chosen
            continue
        want = [_np_metrics(result.params(t["id"], r), TEST) for r in range(2)]
        assert t["test_metrics"]["mse"] == pytest.approx(np.mean([w["mse"] for w in want]), rel=2e-5)
        assert t["test_metric"] == pytest.approx(np.mean([w["mae"] for w in want]), rel=2e-5)
        assert t["test_metric"] != t["metric"]  # another split
    assert "test_metric" in result.to_json()


def test_confirmed_configurations_are_measured_too(result):
    confirmed = _runner(test_data=TEST).confirm(result, top_k=3, seeds=2)
    for t in confirmed.trials:
        want = np.mean([_np_metrics(confirmed.params(t["id"], r), TEST)["mae"] for r in range(2)])
        assert t["test_metric"] == pytest.approx(want, rel=2e-5)


def test_a_scalar_evaluate_gets_a_scalar_test_metric():
    res = _runner(evaluate=mse, metric=None, test_data=TEST).run(SPACE, 4, seed=2)
    for t in res.top(4):
        assert t["test_metric"] == pytest.approx(_np_metrics(res.params(t["id"]), TEST)["mse"], rel=2e-5)
        assert "test_metrics" not in t and "metrics" not in t


@pytest.mark.parametrize("kw, error, match", [
    ({"metric": "accuracy"}, ValueError, r"evaluate returns the metrics \['mae', 'mse'\]; metric= names"),
    ({"metric": None}, ValueError, r"metric=None. Pass e.g. metric='mae'"),
    ({"evaluate": mse, "metric": "mse"}, ValueError, "evaluate returns one value; return a dict"),
])
def test_a_metric_that_is_not_there_is_refused_before_training(kw, error, match):
    with pytest.raises(error, match=match):
        _runner(**kw).run(SPACE, 2)


@pytest.mark.parametrize("kw, error, match", [
    ({"metric": 3}, TypeError, "metric must be the name of an entry"),
    ({"evaluate": None, "eval_data": None, "metric": None, "test_data": TEST}, ValueError,
     "test_data is given but evaluate is None"),
])
def test_bad_runner_arguments(kw, error, match):
    with pytest.raises(error, match=match):
        _runner(**kw)
