"""Search spaces: distributions on the right scale, reproducible per trial, zoom, bad input."""

import math

import numpy as np
import pytest

from optfn import sweep

scipy_stats = pytest.importorskip("scipy.stats")


def test_log_uniform_is_uniform_in_decades():
    values = [t["lr"] for t in sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0)}).sample(2000, seed=1)]
    logs = np.log10(values)
    assert logs.min() >= -4 and logs.max() <= 0
    assert scipy_stats.kstest(logs, scipy_stats.uniform(loc=-4, scale=4).cdf).pvalue > 0.01
    # and clearly not uniform in the value itself
    assert scipy_stats.kstest(values, scipy_stats.uniform(loc=1e-4, scale=1 - 1e-4).cdf).pvalue < 1e-6


def test_one_minus_log_uniform_is_even_per_decade_of_one_minus_beta():
    betas = np.array([t["b"] for t in sweep.Space({"b": sweep.one_minus_log_uniform(0.9, 0.999)}).sample(2000, seed=2)])
    assert betas.min() >= 0.9 and betas.max() <= 0.999
    assert scipy_stats.kstest(np.log10(1 - betas), scipy_stats.uniform(loc=-3, scale=2).cdf).pvalue > 0.01
    assert 0.4 < np.mean(betas < 0.99) < 0.6  # half the samples per decade


def test_int_uniform_and_choice_cover_their_values():
    trials = sweep.Space({"n": sweep.int_uniform(1, 3), "c": sweep.choice(32, 64, 128), "f": 7}).sample(300)
    assert {t["n"] for t in trials} == {1, 2, 3}
    assert {t["c"] for t in trials} == {32, 64, 128}
    assert {t["f"] for t in trials} == {7}


def test_trials_are_reproducible_and_independent_of_how_many_run():
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "b": sweep.uniform(0.0, 1.0)})
    ten = space.sample(10, seed=3)
    assert ten == space.sample(10, seed=3)
    assert ten[:4] == space.sample(4, seed=3)
    assert ten[6:] == space.sample(4, seed=3, start=6)
    assert ten != space.sample(10, seed=4)


def test_latin_hypercube_hits_every_stratum_once():
    u = sweep.Space({"a": sweep.uniform(0, 1), "b": sweep.uniform(0, 1)}).units(16, seed=0, method="lhs")
    for d in range(2):
        assert sorted(np.floor(u[:, d] * 16).astype(int)) == list(range(16))


def test_grid_and_sobol():
    space = sweep.Space({"a": sweep.uniform(0, 1), "b": sweep.log_uniform(1e-3, 1e-1)})
    grid = space.sample(9, method="grid")
    assert len({t["a"] for t in grid}) == 3 and len({t["b"] for t in grid}) == 3
    sobol = space.units(16, seed=0, method="sobol")
    assert sobol.shape == (16, 2) and np.all((sobol >= 0) & (sobol <= 1))


class _Fake:
    def __init__(self, trials):
        self._trials = trials

    def top(self, k):
        return self._trials[:k]


def test_zoom_narrows_around_the_best_and_stays_inside_the_bounds():
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "b": sweep.one_minus_log_uniform(0.9, 0.999),
                         "h": sweep.choice(32, 64, 128), "n": sweep.int_uniform(1, 4)})
    best = [{"hyperparams": {"lr": 1e-3, "b": 0.99, "h": 64, "n": 2}},
            {"hyperparams": {"lr": 3e-3, "b": 0.995, "h": 64, "n": 3}},
            {"hyperparams": {"lr": 0.9, "b": 0.999, "h": 128, "n": 3}}]
    z = space.zoom(_Fake(best), top_k=2)
    lr, b = z.dimensions["lr"], z.dimensions["b"]
    assert 1e-4 <= lr.low < 1e-3 and 3e-3 < lr.high < 1e-2  # widened by a quarter of the span, in decades
    assert 0.9 <= b.low < 0.99 and 0.995 < b.high <= 0.999
    assert z.dimensions["h"].options == (64,) and (z.dimensions["n"].low, z.dimensions["n"].high) == (2, 3)
    edge = space.zoom(_Fake([best[2]]), top_k=1)  # at the upper bounds: clipped to them
    assert edge.dimensions["lr"].high == 1.0 and edge.dimensions["b"].high == 0.999
    for t in edge.sample(200):
        assert 1e-4 <= t["lr"] <= 1.0 and 0.9 <= t["b"] <= 0.999


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: sweep.log_uniform(1.0, 1e-4), r"empty or inverted, low=1.0 >= high=0.0001"),
        (lambda: sweep.log_uniform(0.0, 1.0), r"low must be > 0 .*low=0.0"),
        (lambda: sweep.uniform(2.0, 2.0), "empty or inverted"),
        (lambda: sweep.one_minus_log_uniform(0.9, 1.0), r"high must lie in \(0, 1\), got high=1.0"),
        (lambda: sweep.one_minus_log_uniform(0.0, 0.9), r"low must lie in \(0, 1\)"),
        (lambda: sweep.int_uniform(4, 2), "inverted"),
        (lambda: sweep.choice(), "at least one option"),
        (lambda: sweep.log_uniform(math.nan, 1.0), "finite number"),
        (lambda: sweep.Space({"a": sweep.uniform(0, 1)}).sample(0), r"positive int, got n=0"),
        (lambda: sweep.Space({"a": sweep.uniform(0, 1)}).sample(4, method="halton"), "method must be"),
        (lambda: sweep.Space({}), "at least one dimension"),
    ],
)
def test_bad_spaces(build, match):
    with pytest.raises(ValueError, match=match):
        build()
