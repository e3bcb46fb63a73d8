"""Population-based training: exploit copies exactly, explore stays in bounds on its own
scale, one compile, lineages replay as plain schedules, resume, and a schedule found."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import interrupt
import optfn
from optfn import sweep

X = jax.random.normal(jax.random.PRNGKey(0), (64, 4))
Y = X @ jnp.array([1.0, -2.0, 0.5, 3.0]) + 0.3 * jax.random.normal(jax.random.PRNGKey(1), (64,))
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "m": sweep.one_minus_log_uniform(0.5, 0.99)})


def init(key, hp):  # one start for every member, so a replay needs no trial keys
    return {"w1": 0.5 * jax.random.normal(jax.random.PRNGKey(2), (4, 8)), "w2": jnp.zeros(8)}


def loss(p, b):
    return jnp.mean((jnp.tanh(b["x"] @ p["w1"]) @ p["w2"] - b["y"]) ** 2)


def batch(key, step):  # every member sees batch ``step % 4``: a replay reads the same ones
    i = step % 4
    return {"x": jax.lax.dynamic_slice_in_dim(X, i * 16, 16), "y": jax.lax.dynamic_slice_in_dim(Y, i * 16, 16)}


def _runner(**kw):
    return sweep.Runner(init=init, loss=loss, data=batch, evaluate=loss, eval_data={"x": X, "y": Y},
                        optimizer=lambda h: optfn.sgd(h["lr"], momentum=h["m"]), shared_batches=True,
                        **{"steps": 60, "chunk_steps": 10, **kw})


class CloneAt(sweep.Strategy):
    """Train everything; after ``step`` steps, apply the given clones once."""

    def __init__(self, step, clones):
        self.step, self.clones = step, clones

    def __repr__(self):
        return f"CloneAt({self.step}, {self.clones})"

    def decide(self, state, running):  # asked once per chunk: once at this step
        return sweep.Plan(clone=self.clones) if state.step == self.step else sweep.Plan()


@pytest.mark.parametrize("mesh", [None, "auto"])
def test_exploit_copies_the_chosen_members_arrays_exactly(mesh):
    runner = _runner(steps=40)
    given_hp = [{"lr": 0.01 * (i + 1), "m": 0.9} for i in range(8)]
    alone = runner.run(SPACE, given_hp, mesh=mesh, strategy=CloneAt(20, ()))
    # member 3 takes member 0's weights and momentum at step 20 and stops moving (lr 0);
    # member 5 takes member 6's and trains on exactly as member 6 does
    clones = ((3, 0, {"lr": 0.0}), (5, 6, dict(given_hp[6])))
    cloned = runner.run(SPACE, given_hp, mesh=mesh, strategy=CloneAt(20, clones))
    stopped = _runner(steps=20).run(SPACE, given_hp, mesh=mesh)  # member 0 after 20 steps, same width
    assert stopped.width == cloned.width
    for a, b in zip(jax.tree.leaves(cloned.params(3)), jax.tree.leaves(stopped.params(0))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(cloned.params(5)), jax.tree.leaves(cloned.params(6))):
        np.testing.assert_array_equal(a, b)
    for i in (0, 1, 2, 4, 6, 7):  # the others are untouched
        for a, b in zip(jax.tree.leaves(cloned.params(i)), jax.tree.leaves(alone.params(i))):
            np.testing.assert_array_equal(a, b)
    lineage = cloned.trials[3]["lineage"]
    assert lineage[0]["from"] is None and lineage[1] == {"step": 20, "from": 0, "hyperparams": {"lr": 0.0, "m": 0.9},
                                                        "reason": "exploited"}


@given(st.floats(0, 1), st.floats(0, 1), st.sampled_from([0.5, 0.8, 1.25, 2.0]), st.integers(0, 2**31))
def test_explore_stays_in_bounds_on_each_dimensions_scale(u_lr, u_m, factor, seed):
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "m": sweep.one_minus_log_uniform(0.5, 0.999),
                         "wd": sweep.uniform(0.0, 0.1)})
    hp = {"lr": float(space.dimensions["lr"].from_unit(u_lr)), "m": float(space.dimensions["m"].from_unit(u_m)),
          "wd": 0.05}
    pbt = sweep.PopulationBasedTraining(factors=(factor,), resample=0.0)
    pbt.prepare(space, [hp])
    new = pbt._explore(hp, np.random.default_rng(seed))
    for name, dim in space.dimensions.items():
        assert dim.low <= new[name] <= dim.high
    lr_target = min(max(hp["lr"] * factor, 1e-4), 1.0)  # x factor, clipped
    m_target = min(max(1 - (1 - hp["m"]) * factor, 0.5), 0.999)  # 1 - beta x factor, clipped
    assert new["lr"] == pytest.approx(lr_target, rel=1e-12)
    assert new["m"] == pytest.approx(m_target, rel=1e-12)
    resampled = sweep.PopulationBasedTraining(resample=1.0)
    resampled.prepare(space, [hp])
    for s in range(5):
        for name, value in resampled._explore(hp, np.random.default_rng([seed, s])).items():
            assert space.dimensions[name].low <= value <= space.dimensions[name].high


def test_pbt_compiles_once_replaces_failures_and_its_schedule_replays_the_best_member():
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compiled.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    runner = _runner()
    pbt = sweep.PopulationBasedTraining(interval=1, fraction=0.25, seed=3)
    hp = [{"lr": lr, "m": 0.9} for lr in np.geomspace(1e-3, 0.3, 7)] + [{"lr": 30.0, "m": 0.9}]  # 7 blows up
    result = runner.run(SPACE, hp, strategy=pbt)
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    before = len(compiled)
    again = runner.run(SPACE, hp, strategy=pbt)
    assert len(compiled) == before  # the second run, with all its copies, compiles nothing
    np.testing.assert_array_equal(again.history(), result.history())
    # the member that blew up was replaced at the first decision and trained on healthily
    blown = result.trials[7]
    assert blown["lineage"][1]["step"] == 10 and blown["status"] == "ok" and math.isfinite(blown["metric"])
    best = result.best()
    schedule = result.schedule(best["id"])
    opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=schedule["lr"], momentum=schedule["m"])
    params = init(None, None)
    state = opt.init(params)
    step = jax.jit(lambda p, s, t: (lambda g, s: (lambda u, s: (optfn.apply_updates(p, u), s))(
        *opt.update(g, s, p)))(jax.grad(loss)(p, batch(None, t)), s))
    for t in range(60):
        params, state = step(params, state, t)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(result.best_params())):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert len(result.lineage()) == 8 + sum(len(t.get("lineage", [None])) - 1 for t in result.trials)
    # confirm replays each pick's schedule from fresh inits (here the same init and batches: the same params)
    confirmed = runner.confirm(result, top_k=2, seeds=2)
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    assert best["id"] in {t["id"] for t in confirmed.trials}
    replayed = confirmed.schedule(best["id"])
    for name in ("lr", "m"):
        assert [float(replayed[name](t)) for t in range(60)] == [float(schedule[name](t)) for t in range(60)]
    for r in range(2):
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(confirmed.params(best["id"], r))):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_pbt_with_replicas_resumes_to_the_uninterrupted_result(tmp_path):
    runner = _runner()
    full = runner.run(SPACE, 6, seed=4, seeds=2, strategy=sweep.PopulationBasedTraining(fraction=0.34, seed=1))

    path = str(tmp_path / "pbt.npz")
    with pytest.raises(interrupt.Stop):
        runner.run(SPACE, 6, seed=4, seeds=2, strategy=sweep.PopulationBasedTraining(fraction=0.34, seed=1),
                   checkpoint=path, callback=interrupt.stop_at(30))
    resumed = runner.run(SPACE, 6, seed=4, seeds=2, strategy=sweep.PopulationBasedTraining(fraction=0.34, seed=1),
                         checkpoint=path, resume=True)
    np.testing.assert_array_equal(resumed.history(), full.history())
    assert [t.get("lineage") for t in resumed.trials] == [t.get("lineage") for t in full.trials]
    assert any("lineage" in t for t in full.trials)
    for i in range(6):  # replicas copy replicas: replica 1 of a copy is replica 1 of its source
        for a, b in zip(jax.tree.leaves(resumed.params(i, 1)), jax.tree.leaves(full.params(i, 1))):
            np.testing.assert_array_equal(a, b)


def test_pbt_finds_a_decaying_learning_rate_where_one_wins():
    """Noisy linear regression with small batches: SGD's loss floor grows with the
    learning rate, so the best schedule starts high and decays."""
    d, n = 10, 4096
    kx, kn = jax.random.split(jax.random.PRNGKey(5))
    x = jax.random.normal(kx, (n, d))
    w_star = 10.0 * jnp.linspace(-1, 1, d)  # far from the start: a high rate pays early
    y = x @ w_star + 1.0 * jax.random.normal(kn, (n,))
    val = {"x": x[:1024], "y": x[:1024] @ w_star}  # noise-free: the distance to w*

    def mse(w, b):
        return jnp.mean((b["x"] @ w - b["y"]) ** 2)

    runner = sweep.Runner(init=lambda k, hp: jnp.zeros(d), loss=mse, data={"x": x, "y": y}, evaluate=mse,
                          eval_data=val, optimizer=lambda h: optfn.sgd(h["lr"]), batch_size=4, steps=600,
                          chunk_steps=30, shared_batches=True)
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3)})
    pbt = runner.run(space, 16, seed=0, strategy=sweep.PopulationBasedTraining(fraction=0.25, resample=0.1))
    fixed = runner.run(space, 16, seed=0)
    lr = pbt.schedule(pbt.best()["id"])["lr"]
    assert float(lr(599)) < float(lr(0)) / 10  # it decays (here from about 0.1 to 0.003)
    assert pbt.best()["metric"] < fixed.best()["metric"]  # and beats every fixed rate of the same draw
