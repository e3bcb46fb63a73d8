"""Structures that differ only in array sizes share a padded program, exactly.

The reference is the same configurations trained with ``padding=None`` (one program
per value, nothing padded): padded trials must match them to float32 rounding (the
padded GEMMs add zeros in another order), and come back at their own shapes.
"""

import itertools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import problems
from optfn import sweep
from optfn.sweep import _buckets, _exact

DATA = problems.tanh_data(128)


def init(key, hp):
    k1, k2 = jax.random.split(key)
    h = hp["hidden"]
    return {"w1": 0.5 * jax.random.normal(k1, (4, h)), "b1": jnp.zeros(h), "w2": 0.3 * jax.random.normal(k2, (h,))}


def loss(p, batch):
    return jnp.mean((jnp.tanh(batch["x"] @ p["w1"] + p["b1"]) @ p["w2"] - batch["y"]) ** 2)


SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2), "hidden": sweep.choice(3, 5, 8)})
TRIALS = [{"lr": lr, "hidden": h} for h in (8, 3, 5) for lr in (3e-3, 2e-2)]


def _runner(**kw):
    args = dict(init=init, loss=loss, optimizer=lambda h: optfn.adam(h["lr"]), data=DATA, steps=20, chunk_steps=10,
                batch_size=16, evaluate=loss, eval_data=DATA)
    return sweep.Runner(**{**args, **kw})


def _same_trials(a, b, rtol=1e-5):
    assert [t["hyperparams"] for t in a.trials] == [t["hyperparams"] for t in b.trials]
    for ta, tb in zip(a.trials, b.trials):
        np.testing.assert_allclose(ta["history"]["metric"], tb["history"]["metric"], rtol=rtol, atol=1e-7)
        pa, pb = a.params(ta["id"]), b.params(tb["id"])
        for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb)):
            assert x.shape == y.shape  # each trial's own, unpadded shapes
            np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-6)


@pytest.fixture(scope="module")
def alone():
    runner = _runner(padding=None)
    result = runner.run(SPACE, TRIALS, seed=0)
    assert len({t["hyperparams"]["hidden"] for t in result.trials}) == 3
    assert runner.compile_counts == {"init": 3, "chunk": 3}
    return result


def test_padded_trials_equal_the_same_trials_trained_alone(alone):
    runner = _runner(padding=1)
    result = runner.run(SPACE, TRIALS, seed=0)
    assert runner.compile_counts == {"init": 1, "chunk": 1}  # one program for every width
    _same_trials(alone, result)
    assert result.params(alone.trials[0]["id"])["w1"].shape == (4, alone.trials[0]["hyperparams"]["hidden"])


@pytest.mark.slow
def test_padded_trials_on_eight_devices_equal_the_trials_alone(alone):
    result = _runner(padding=1).run(SPACE, TRIALS, seed=0, mesh="auto")
    assert result.width % 8 == 0
    _same_trials(alone, result)


def test_padded_batch_norm_model_equals_it_alone():
    def bn_init(key, hp):
        h = hp["hidden"]
        bn_params, bn_state = optfn.batch_norm_init(h)
        return {"w": jax.random.normal(key, (4, h)), "bn": bn_params, "v": jnp.ones(h) / h}, bn_state

    def bn_loss(p, s, batch):
        h, s = optfn.batch_norm(p["bn"], s, batch["x"] @ p["w"], training=True)
        return jnp.mean((jax.nn.relu(h) @ p["v"] - batch["y"]) ** 2), s

    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2), "hidden": sweep.choice(3, 6)})
    kw = dict(init=bn_init, loss=bn_loss, has_state=True, evaluate=None, optimizer=lambda h: optfn.sgd(h["lr"], 0.9))
    a, b = _runner(padding=None, **kw).run(space, 4, seed=1), _runner(padding=1, **kw).run(space, 4, seed=1)
    _same_trials(a, b)  # params and the batch-norm statistics, at their own sizes


@pytest.mark.slow
def test_each_bucket_compiles_once_and_resumes_exactly(tmp_path):
    runner = _runner(padding=2)
    plan = runner.plan(SPACE, TRIALS, seed=0)
    assert len(plan.programs) == 2 and sorted(len(p.members) for p in plan.programs) == [1, 2]
    whole = runner.run(SPACE, TRIALS, seed=0)
    assert runner.compile_counts == {"init": 2, "chunk": 2}

    def stop_once(info):
        if info["step"] == 10 and not (tmp_path / "stopped").exists():
            (tmp_path / "stopped").write_text("")
            raise KeyboardInterrupt

    path = str(tmp_path / "ckpt.npz")
    with pytest.raises(KeyboardInterrupt):
        runner.run(SPACE, TRIALS, seed=0, checkpoint=path, callback=stop_once)
    resumed = runner.run(SPACE, TRIALS, seed=0, checkpoint=path, resume=True)
    assert runner.compile_counts == {"init": 2, "chunk": 2}  # the same programs, nothing new
    for a, b in zip(whole.trials, resumed.trials):
        assert a["history"] == b["history"]  # the same programs: bit for bit
    for t in whole.trials:
        for x, y in zip(jax.tree.leaves(whole.params(t["id"])), jax.tree.leaves(resumed.params(t["id"]))):
            np.testing.assert_array_equal(x, y)


@pytest.mark.slow
def test_a_pbt_clone_takes_the_sources_sizes_with_its_weights():
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1e-1), "hidden": sweep.choice(3, 8)})
    pbt = sweep.PopulationBasedTraining(interval=1, fraction=0.5, seed=0)
    result = _runner(padding=1, steps=30).run(space, 4, seed=3, strategy=pbt)
    cloned = [t for t in result.trials if t.get("lineage")]
    assert cloned
    moved = 0
    for t in cloned:
        last = t["lineage"][-1]
        src = next(s for s in result.trials if s["id"] == last["from"])
        hidden = last["hyperparams"]["hidden"]
        assert result.params(t["id"])["w1"].shape == (4, hidden)
        moved += hidden != t["hyperparams"]["hidden"]
        assert hidden in (3, 8) and src["id"] != t["id"]
    assert moved  # a clone across sizes happened, and its params came back at the source's


def _layer_norm_loss(p, batch):
    h = jnp.tanh(batch["x"] @ p["w1"] + p["b1"])
    h = (h - h.mean(-1, keepdims=True)) / jnp.sqrt(h.var(-1, keepdims=True) + 1e-5)  # a mean over the padded axis
    return jnp.mean((h @ p["w2"] - batch["y"]) ** 2)


# the layer norm is marked slow: the factored optimizer's fallback covers the probe's verdict
@pytest.mark.parametrize("case", [pytest.param("layer_norm", marks=pytest.mark.slow), "factored_adafactor"])
def test_the_probe_falls_back_where_padding_is_not_exact(case):
    if case == "layer_norm":
        runner = _runner(loss=_layer_norm_loss, evaluate=None)
    else:  # the factored second moments average over the padded axis
        runner = _runner(optimizer=lambda h: optfn.adafactor(h["lr"], min_dim_size_to_factor=2), evaluate=None)
    with pytest.warns(_buckets.PaddingWarning) as caught:
        plan = runner.plan(SPACE, TRIALS, seed=0)
    assert len(caught) == 1
    text = str(caught[0].message)
    assert "hidden" in text and ("['w1']" in text or "['b1']" in text or "['w2']" in text), text
    assert len(plan.programs) == 3  # one program per value, as without padding


def test_auto_plan_is_shown_before_anything_trains():
    runner = _runner()
    plan = runner.plan(SPACE, TRIALS, seed=0)
    assert runner.compile_counts["chunk"] == 1 and not runner.compile_counts.get("train")
    text = str(plan)
    assert "hidden" in text and "cost model" in text and "compile" in text
    rows = plan.rows()
    assert sum(r["trials"] for r in rows) == 6 and all(r["padded_compute"] >= 1 for r in rows)
    assert plan.estimate["estimated_s"] <= plan.estimate["unpadded_s"]
    before = runner.compile_counts
    runner.run(SPACE, TRIALS, seed=0)  # uses this plan: its measured programs are not compiled again
    assert sum(runner.compile_counts.values()) - sum(before.values()) == 2 * (len(plan.programs) - 1)
    probed, planned = [], []
    real_probe, real_plan = _exact.probe, _buckets.plan
    try:  # another sample over the same structures (a later round) plans again but reuses the probe's verdicts
        _exact.probe = lambda *a, **k: probed.append(a) or real_probe(*a, **k)
        _buckets.plan = lambda *a, **k: planned.append(a) or real_plan(*a, **k)
        again = runner.plan(SPACE, TRIALS + TRIALS[:1])
    finally:
        _exact.probe, _buckets.plan = real_probe, real_plan
    assert planned and not probed and sum(r["trials"] for r in again.rows()) == 7


def test_the_cheapest_cut_is_found():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 7))
        cost = rng.random((n + 1, n + 1)) * 3
        bounds = _buckets._cut(lambda i, j: cost[i, j], n)
        got = sum(cost[i, j] for i, j in bounds)
        best = min(sum(cost[a, b] for a, b in zip((0,) + cuts, cuts + (n,)))
                   for k in range(n) for cuts in itertools.combinations(range(1, n), k))
        assert got == pytest.approx(best)
        assert [a for a, _ in bounds][1:] == [b for _, b in bounds][:-1] and bounds[0][0] == 0 and bounds[-1][1] == n


@pytest.mark.parametrize("padding", ["max", 0, True, 1.5])
def test_a_bad_padding_is_refused(padding):
    with pytest.raises(ValueError, match="padding"):
        _runner(padding=padding)


def _registry():
    from registry import REGISTRY

    return REGISTRY


@pytest.mark.slow
@pytest.mark.parametrize("entry", _registry(), ids=repr)
def test_every_registry_optimizer_the_probe_admits_trains_padded_as_alone(entry):
    trials = [{"lr": 1.0, "hidden": h} for h in (5, 3)]  # lr scales the entry's own hyperparameters
    space = sweep.Space({"lr": sweep.uniform(0.5, 1.5), "hidden": sweep.choice(3, 5)})

    def optimizer(h):
        return entry.make({**entry.hp, "lr": entry.hp.get("lr", 0.01) * h["lr"]})

    runner = _runner(optimizer=optimizer, padding=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        padded = runner.run(space, trials, seed=0)
    refused = [w for w in caught if issubclass(w.category, _buckets.PaddingWarning)]
    # Adafactor clips its update by the RMS of the whole leaf: a mean over the padded entries
    assert bool(refused) == (entry.name in NOT_EXACT), [str(w.message) for w in refused]
    assert runner.compile_counts["chunk"] == (2 if refused else 1)
    _same_trials(_runner(optimizer=optimizer, padding=None).run(space, trials, seed=0), padded, rtol=2e-5)


# adafactor, cautious_adam: a mean over each leaf (its factored moments; the kept share);
# soap: the eigendecomposition of a padded statistic is a different-sized eigh, rounded differently
NOT_EXACT = {"adafactor", "cautious_adam", "soap"}


@pytest.mark.parametrize("sizes", [(8, 32), pytest.param((8, 12), marks=pytest.mark.slow)],
                         ids=["repeated", "per-example"])
def test_batch_sizes_share_a_program_exactly_with_per_epoch_schedules(sizes):
    # 8 divides 32: the batch is repeated; 8 does not divide 12: a mean of per-example losses
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2), "batch_size": sweep.choice(*sizes)})
    trials = [{"lr": 1e-2, "batch_size": b} for b in sizes]

    def make(padding):
        runner = _runner(padding=padding, init=lambda k, h: init(k, {"hidden": 4}))
        # the learning rate decays per epoch: an epoch is 16 steps at batch 8, 4 at batch 32
        runner.optimizer = lambda h: optfn.adam(optfn.per_epoch(optfn.inverse_time_decay(h["lr"], decay_rate=0.5),
                                                                runner.steps_per_epoch(h)))
        return runner

    shared = make(1)
    plan = shared.plan(space, trials)
    assert plan.size_dims == ["batch_size"] and len(plan.programs) == 1
    assert plan.programs[0].repeat == (sizes == (8, 32))
    result = shared.run(space, trials)
    assert shared.compile_counts == {"init": 1, "chunk": 1}
    _same_trials(make(None).run(space, trials), result)


def test_a_loss_that_is_not_a_mean_over_examples_keeps_its_batch_sizes_apart():
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2), "batch_size": sweep.choice(8, 32)})
    runner = _runner(init=lambda k, h: init(k, {"hidden": 4}), evaluate=None,
                     loss=lambda p, b: loss(p, b) * b["x"].shape[0] ** 0.5)  # depends on the batch's size
    with pytest.warns(_buckets.PaddingWarning, match="batch_size"):
        plan = runner.plan(space, [{"lr": 1e-2, "batch_size": b} for b in (8, 32)])
    assert len(plan.programs) == 2


def test_plan_refuses_bad_trials_and_seeds_naming_them():
    runner = _runner()
    with pytest.raises(ValueError, match="trials"):
        runner.plan(SPACE, 0)
    with pytest.raises(ValueError, match="seeds"):
        runner.plan(SPACE, TRIALS, seeds=0)
    with pytest.raises(ValueError, match="space's names"):
        runner.plan(SPACE, [{"lr": 0.1}])
