"""Strategies, replicas, shared batches, confirmation, the persistent cache and what is reproducible."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import problems
from optfn import sweep

DATA = problems.tanh_data(256, noise=0.3)
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.one_minus_log_uniform(0.5, 0.99)})


def _runner(**kw):
    return problems.tanh_runner(kw.pop("data", DATA), **{"steps": 60, "chunk_steps": 20, **kw})


def _final(result):
    return np.array([t["metric"] for t in result.trials])


# -- strategies in isolation: plain data in, plans out ------------------------------------

_drive = problems.drive


def test_random_search_trains_everything_and_stops_failures_at_once():
    reasons = {}
    stopped = _drive(sweep.RandomSearch(), lambda c, s: (float("nan"), "nan") if c == 4 else (1.0 / (c + 1), "ok"),
                     reasons=reasons)
    assert stopped[4] == 10 and all(stopped[c] == 90 for c in range(9) if c != 4)
    assert reasons == {**{c: "end" for c in range(9)}, 4: "nan"}


def test_successive_halving_keeps_the_best_third_at_each_rung_and_ranks_failures_last():
    def metrics(c, s):
        return (float("inf"), "diverged") if c == 8 else (float(c), "ok")  # config 0 is best

    stopped = _drive(sweep.SuccessiveHalving(3), metrics)  # rungs at 10 and 30 steps
    assert stopped[8] == 10
    assert sorted(c for c, s in stopped.items() if s == 90) == [0]
    assert sorted(c for c, s in stopped.items() if s == 30) == [1, 2]
    assert sweep.SuccessiveHalving(3).final_alive(9, 90, 10) == 1
    with pytest.raises(ValueError, match=r"eta must be an int >= 2 \(keep the best 1/eta\), got eta=1"):
        sweep.SuccessiveHalving(1)


class KeepTwoAfterOneChunk:
    """A strategy of one's own: after the first chunk only the best two continue."""

    def init(self, configs, steps, chunk_steps, goal):
        return {"configs": configs, "steps": steps, "goal": goal, "step": 0, "alive": [], "cut": False, "last": []}

    def ask(self, state):
        if not state["alive"] and state["step"] == 0:
            return sweep.Plan(start=tuple(range(state["configs"]))), {**state, "alive": list(range(state["configs"]))}
        if state["step"] >= state["steps"]:
            return sweep.Plan(stop=tuple(state["alive"]), done=True), {**state, "alive": []}
        if not state["cut"]:
            keep = sweep.rank([sweep.Report(*r) for r in state["last"]], state["goal"])[:2]
            stop = tuple(c for c in state["alive"] if c not in keep)
            return sweep.Plan(stop=stop), {**state, "alive": keep, "cut": True}
        return sweep.Plan(), state

    def tell(self, state, reports):
        return {**state, "step": max(r.step for r in reports), "last": [list(r) for r in reports]}


def test_a_strategy_of_ones_own_drives_the_runner_and_resumes(tmp_path):
    runner, path = _runner(), str(tmp_path / "own.npz")
    result = runner.run(SPACE, 6, seed=1, strategy=KeepTwoAfterOneChunk(), checkpoint=path)
    assert sorted(t["steps"] for t in result.trials) == [20] * 4 + [60] * 2
    assert result.trial_steps == 6 * 20 + 2 * 40
    assert runner.run(SPACE, 6, seed=1, strategy=KeepTwoAfterOneChunk(), checkpoint=path,
                      resume=True).to_dicts() == result.to_dicts()


# -- replicas and confirmation ------------------------------------------------------------

def test_seeds_train_replicas_in_one_program_and_rank_by_their_mean():
    runner = _runner()
    result = runner.run(SPACE, 5, seed=3, seeds=3)
    assert runner.compile_counts == {"init": 1, "chunk": 1} and result.width == 15
    assert result.trial_steps == 5 * 3 * 60
    for t in result.trials:
        assert len(t["replica_metrics"]) == 3 and len(set(t["replica_metrics"])) == 3  # own keys
        np.testing.assert_allclose(t["metric"], np.mean(t["replica_metrics"]), rtol=1e-12)
        np.testing.assert_allclose(t["metric_std"], np.std(t["replica_metrics"]), rtol=1e-12)
    means = [t["metric"] for t in result.top(5)]
    assert means == sorted(means)
    # replica 0 is the single-seed trial: seeds=k adds replicas 1..k-1 (another width: float32 rounding)
    single = runner.run(SPACE, 5, seed=3)
    assert [t["hyperparams"] for t in single.trials] == [t["hyperparams"] for t in result.trials]
    np.testing.assert_allclose([t["replica_metrics"][0] for t in result.trials], _final(single), rtol=1e-5)


def test_confirm_retrains_the_top_with_fresh_seeds_and_reranks():
    runner = _runner()
    result = runner.run(SPACE, 12, seed=0)
    confirmed = runner.confirm(result, top_k=4, seeds=5)
    top_ids = {t["id"] for t in result.top(4)}
    assert {t["id"] for t in confirmed.trials} == top_ids and confirmed.seeds == 5
    for t in confirmed.trials:
        original = next(o for o in result.trials if o["id"] == t["id"])
        assert t["hyperparams"] == original["hyperparams"] and len(t["replica_metrics"]) == 5
        assert original["metric"] not in t["replica_metrics"]  # fresh seeds
    means = [t["metric"] for t in confirmed.top(4)]
    assert means == sorted(means)
    with pytest.raises(ValueError, match="top_k must be a positive int, got top_k=0"):
        runner.confirm(result, top_k=0)


def test_shared_batches_give_every_trial_the_same_data_at_each_step():
    # the batch is a function of the step only: two trials with the same learning rate and
    # the same init (a constant one) then train identically
    runner = _runner(shared_batches=True, init=lambda key, hp: {"w1": jnp.full((4, 8), 0.3), "w2": jnp.zeros(8)})
    result = runner.run(SPACE, [{"lr": 0.01, "b1": 0.9}, {"lr": 0.01, "b1": 0.9}, {"lr": 0.03, "b1": 0.9}])
    a, b, c = result.trials
    assert a["history"]["loss"] == b["history"]["loss"] != c["history"]["loss"]
    own = _runner(init=lambda key, hp: {"w1": jnp.full((4, 8), 0.3), "w2": jnp.zeros(8)})
    a, b, _ = own.run(SPACE, [{"lr": 0.01, "b1": 0.9}, {"lr": 0.01, "b1": 0.9}, {"lr": 0.03, "b1": 0.9}]).trials
    assert a["history"]["loss"][1:] != b["history"]["loss"][1:]  # own keys, own batches


def test_coarse_to_fine_confirms_the_best_of_every_round(tmp_path):
    runner = _runner(steps=90, chunk_steps=10)
    result = sweep.coarse_to_fine(runner, SPACE, 18, top_k=4, confirm=3, confirm_seeds=2,
                                  checkpoint_dir=str(tmp_path))
    assert {t["round"] for t in result.trials} == {1, 2} and len(result) == 36
    assert sorted(os.listdir(tmp_path)) == ["confirm.npz", "round1.npz", "round2.npz"]
    assert {t["id"] for t in result.confirmed.trials} == {t["id"] for t in result.top(3)}
    assert runner.compiles == 2
    again = sweep.coarse_to_fine(runner, SPACE, 18, top_k=4, confirm=3, confirm_seeds=2, checkpoint_dir=str(tmp_path))
    assert again.confirmed.to_dicts() == result.confirmed.to_dicts()  # finished checkpoints return at once


# -- what is reproducible, exactly --------------------------------------------------------

@pytest.mark.slow
def test_across_widths_chunk_steps_and_devices_results_agree_to_float32_rounding():
    reference = _final(_runner(width=8).run(SPACE, 8, seed=4))
    for kw in (dict(width=1), dict(width=3), dict(chunk_steps=10), dict(chunk_steps=60)):
        np.testing.assert_allclose(_final(_runner(**kw).run(SPACE, 8, seed=4)), reference, rtol=1e-5, atol=1e-7)
    for n in (2, 8):
        sharded = _runner(width=8).run(SPACE, 8, seed=4, mesh=sweep.trials_mesh(jax.devices()[:n]))
        np.testing.assert_allclose(_final(sharded), reference, rtol=1e-5, atol=1e-7)


def test_same_width_and_sharding_is_bit_identical_whatever_the_other_trials():
    runner = _runner(width=8)
    base = runner.run(SPACE, 8, seed=4)
    hps = [t["hyperparams"] for t in base.trials]
    mixed = [hps[0], {"lr": 0.3, "b1": 0.5}, hps[2], hps[3]]
    again = runner.run(SPACE, mixed, seed=4)
    # given trials get ids 0..3, like the sampled ones, so trials 0, 2 and 3 share their keys
    for i in (0, 2, 3):
        np.testing.assert_array_equal(again.trials[i]["history"]["metric"], base.trials[i]["history"]["metric"])


# -- the persistent compilation cache -----------------------------------------------------

_CACHED_SWEEP = textwrap.dedent("""
    import sys, jax, jax.numpy as jnp, optfn
    from optfn import sweep
    hits = []
    jax.monitoring.register_event_listener(
        lambda e, **kw: hits.append(e) if e == "/jax/compilation_cache/cache_hits" else None)
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 3))
    runner = sweep.Runner(init=lambda k, hp: jnp.zeros(3), loss=lambda w, b: jnp.mean((b["x"] @ w - b["y"]) ** 2),
                          optimizer=lambda hp: optfn.sgd(hp["lr"]), data={"x": x, "y": x.sum(1)}, steps=20,
                          chunk_steps=10, batch_size=8, evaluate=lambda w, d: jnp.mean(w), eval_data={},
                          cache_dir=sys.argv[1])
    result = runner.run(sweep.Space({"lr": sweep.log_uniform(1e-3, 0.1)}), 4)
    print(len(hits), runner.compiles, result.trials[0]["metric"])
""")


@pytest.mark.slow
def test_a_second_process_loads_the_programs_from_the_persistent_cache(tmp_path):
    cache = str(tmp_path / "xla")
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}

    def run():
        out = subprocess.run([sys.executable, "-c", _CACHED_SWEEP, cache], capture_output=True, text=True,
                             env=env, check=True, timeout=300)
        return out.stdout.split()

    first, second = run(), run()
    assert first[0] == "0" and os.listdir(cache)
    # both programs (init; the chunk, which evaluates inside) built again, and loaded from disk
    assert int(second[0]) >= 2 and first[1] == second[1] == "2"
    assert first[2] == second[2]


# -- the trained models come back ---------------------------------------------------------

def test_trained_params_come_back_and_match_the_metrics():
    runner = _runner()
    result = runner.run(SPACE, 9, seed=2, halving=3, min_steps=20, seeds=2)
    for t in result.trials:  # stopped early or not: the params at the stop give the last metric
        for r in range(2):
            params = result.params(t["id"], r)
            assert isinstance(params["w1"], np.ndarray) and params["w1"].shape == (4, 8)  # unstacked, on the host
            np.testing.assert_allclose(problems.tanh_loss(params, DATA), t["replica_metrics"][r], rtol=1e-5)
    best = result.best()
    np.testing.assert_array_equal(result.best_params()["w2"], result.params(best["id"])["w2"])
    alone = runner.run(SPACE, 1, seed=2, start=4, seeds=2)  # the same trial trained by itself, same width
    np.testing.assert_array_equal(alone.params(4, 1)["w1"], runner.run(SPACE, 9, seed=2, seeds=2).params(4, 1)["w1"])


def test_keep_bounds_the_params_kept_and_confirm_keeps_ids():
    runner = _runner()
    result = runner.run(SPACE, 6, seed=0, keep=2)
    assert {i for i, _ in result.models} == {t["id"] for t in result.top(2)}
    with pytest.raises(KeyError, match="no params kept for trial"):
        result.params(next(t["id"] for t in result.trials if t["id"] not in {i for i, _ in result.models}))
    confirmed = runner.confirm(result, top_k=2, seeds=2)
    assert {i for i, _ in confirmed.models} == {t["id"] for t in result.top(2)}
    assert runner.run(SPACE, 6, seed=0, keep=0).models == {}


def test_params_survive_an_interrupted_and_resumed_run(tmp_path):
    runner, path = _runner(), str(tmp_path / "p.npz")
    full = runner.run(SPACE, 6, seed=1, halving=2, min_steps=20)

    def stop(info):
        if info["step"] == 40:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(SPACE, 6, seed=1, halving=2, min_steps=20, checkpoint=path, callback=stop)
    resumed = runner.run(SPACE, 6, seed=1, halving=2, min_steps=20, checkpoint=path, resume=True)
    assert resumed.models.keys() == full.models.keys()
    for k in full.models:
        np.testing.assert_array_equal(resumed.models[k]["w1"], full.models[k]["w1"])


# -- epochs ------------------------------------------------------------------------------

def test_epochs_visit_every_example_once_whatever_the_chunking():
    n, batch = 50, 8  # 6 steps per epoch, 2 examples dropped each epoch
    index = {"i": jnp.arange(n)}
    runner = _runner(data={"x": jnp.zeros((n, 4)), "y": jnp.zeros(n)}, batch_size=batch)
    assert runner.steps_per_epoch() == 6
    feed, key = runner.feed, jax.random.PRNGKey(3)
    plan = feed.plan(key, 0, 18, {})
    steps = [np.asarray(feed.batch(key, jnp.int32(t), {}, index, plan, 0)["i"]) for t in range(18)]
    for e in range(3):
        seen = np.concatenate(steps[6 * e:6 * e + 6])
        assert len(set(seen.tolist())) == 48  # no repeats within an epoch
    assert not np.array_equal(steps[0], steps[6])  # a new permutation each epoch
    for first in (4, 5, 11):  # a chunk starting mid-epoch draws the same batches
        later = feed.plan(key, first, 5, {})
        for t in range(first, first + 5):
            np.testing.assert_array_equal(feed.batch(key, jnp.int32(t), {}, index, later, first)["i"], steps[t])


def test_a_runner_by_epochs_evaluates_once_per_epoch_and_per_epoch_schedules_follow():
    runner = _runner(steps=None, epochs=3, chunk_steps=None, batch_size=32,
                     optimizer=lambda h: optfn.sgd(optfn.per_epoch(optfn.exponential_decay(h["lr"], 1, 0.5),
                                                                   runner.steps_per_epoch()), momentum=h["b1"]))
    result = runner.run(SPACE, 2, seed=0)
    assert runner.steps == 3 * 8 and runner.chunk_steps == 8  # 256 examples, batches of 32
    assert result.trials[0]["history"]["step"] == [0, 8, 16, 24]
    with pytest.raises(ValueError, match=r"pass steps= or epochs= \(one of them\)"):
        _runner(epochs=2)
    replaced = _runner(sampling="replacement").run(SPACE, 2, seed=0)
    assert all(t["status"] == "ok" for t in replaced.trials)
