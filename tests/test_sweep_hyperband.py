"""Hyperband's brackets, stop reasons, and a strategy of one's own that proposes configurations."""

import json

import numpy as np
import pytest

import problems
from optfn import sweep
from optfn.sweep._hyperband import brackets

DATA = problems.tanh_data(256, noise=0.3)
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.one_minus_log_uniform(0.5, 0.99)})


def _runner(**kw):
    return problems.tanh_runner(DATA, **{"steps": 60, "chunk_steps": 20, **kw})


def _resumed(runner, n, seed, strategy, path, at):
    """The run killed by an exception in its callback at step ``at``, then resumed."""
    def interrupt(info):
        if info["step"] == at:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run(SPACE, n, seed=seed, strategy=strategy, checkpoint=path, callback=interrupt)
    return runner.run(SPACE, n, seed=seed, strategy=strategy, checkpoint=path, resume=True)


def test_brackets_follow_li_et_al():
    # eta = 3, steps 90 = 9 chunks of 10: s_max = 2; n_s = ceil(3/(s+1) * 3**s) = 9, 5, 3
    assert brackets(17, 90, 10, 3, None) == [(9, [10, 30]), (5, [30]), (3, [])]
    # 34 configurations: twice as many in each bracket
    assert [n for n, _ in brackets(34, 90, 10, 3, None)] == [18, 10, 6]
    # a larger smallest budget: fewer brackets (steps 90 / 3 >= 30: s_max = 1; n_s = 3, 2)
    assert brackets(10, 90, 10, 3, 30) == [(6, [30]), (4, [])]
    # eta = 2, 80 steps from 10: s_max = 3; n_s = 8, 6 (ceil(4/3 * 4)), 4, 4
    assert brackets(22, 80, 10, 2, None) == [(8, [10, 20, 40]), (6, [20, 40]), (4, [40]), (4, [])]


def test_hyperband_halves_each_bracket_from_its_own_budget():
    reasons = {}

    def metrics(c, s):  # config c's metric is c (lower is better); 16 fails at once
        return (float("nan"), "nan") if c == 16 else (float(c), "ok")

    stopped = problems.drive(sweep.Hyperband(3), metrics, configs=17, reasons=reasons)
    # bracket 2 (configs 0-8): rungs at 10 (keep 3) and 30 (keep 1)
    assert {c for c in range(9) if stopped[c] == 10} == set(range(3, 9))
    assert {c for c in range(9) if stopped[c] == 30} == {1, 2} and stopped[0] == 90
    # bracket 1 (9-13): one rung at 30, keep ceil(5/3) = 2
    assert {c for c in range(9, 14) if stopped[c] == 30} == {11, 12, 13} and stopped[9] == stopped[10] == 90
    # bracket 0 (14-16): to the end, but for the failure
    assert stopped[14] == stopped[15] == 90 and stopped[16] == 10
    assert reasons == {**{c: "rung" for c in (1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13)},
                       **{c: "end" for c in (0, 9, 10, 14, 15)}, 16: "nan"}
    assert sweep.Hyperband(3).final_alive(17, 90, 10) == 6
    with pytest.raises(ValueError, match="Hyperband: eta must be an int >= 2"):
        sweep.Hyperband(1)
    with pytest.raises(ValueError, match="Hyperband: min_steps=100 exceeds steps=90"):
        sweep.Hyperband(3, min_steps=100).init(9, 90, 10, "min")


def test_hyperband_in_the_runner_compiles_once_records_why_and_resumes(tmp_path):
    runner = _runner(steps=80, chunk_steps=20)
    hb = sweep.Hyperband(2)  # 80 / 20 = 4 chunks: brackets from 20, 40 and 80 steps
    result = runner.run(SPACE, 12, seed=2, strategy=hb)
    assert runner.compile_counts == {"init": 1, "chunk": 1}  # every bracket in the same programs
    plan = brackets(12, 80, 20, 2, None)
    assert plan == [(5, [20, 40]), (4, [40]), (3, [])]
    by_id = {t["id"]: t for t in result.trials}
    for b, (n, marks) in enumerate(plan):
        members = range(sum(m for m, _ in plan[:b]), sum(m for m, _ in plan[:b + 1]))
        finished = [c for c in members if by_id[c]["steps"] == 80]
        assert len(finished) == -(-n // 2 ** len(marks))  # ceil(n / eta**rungs) reach the end
        for c in members:
            assert by_id[c]["stop"] == ("end" if by_id[c]["steps"] == 80 else "rung")
    assert json.loads(result.to_json())["trials"][0]["stop"] in ("end", "rung")

    assert _resumed(runner, 12, 2, hb, str(tmp_path / "hb.npz"), at=40).to_dicts() == result.to_dicts()
    assert runner.compile_counts == {"init": 1, "chunk": 1}


class RefineTheBest(sweep.Strategy):
    """A strategy of one's own that proposes: after the first chunk the worst half stop, and
    as many new configurations start, at half and a third of the best learning rate."""

    def decide(self, state, running):
        if state.step != state.chunk_steps:
            return sweep.Plan()
        order = sweep.rank([state.latest[c] for c in running], state.goal)
        best = self.hyperparams[order[0]]
        new = [{**best, "lr": best["lr"] * f} for f in (0.5, 1 / 3)]
        return sweep.Plan(stop=tuple(sweep.Stop(c, "rung") for c in order[-2:]), start=tuple(new))


def test_a_strategy_that_proposes_configurations_trains_them_as_if_alone_and_resumes(tmp_path):
    runner = _runner(width=4)
    result = runner.run(SPACE, 4, seed=5, strategy=RefineTheBest())
    ids = sorted(t["id"] for t in result.trials)
    assert ids == [0, 1, 2, 3, 4, 5]  # the proposals are numbered after the pool
    pool = {t["id"]: t for t in result.trials if t["id"] < 4}
    best = min(pool.values(), key=lambda t: t["history"]["metric"][1])
    for i, f in ((4, 0.5), (5, 1 / 3)):
        t = next(t for t in result.trials if t["id"] == i)
        np.testing.assert_allclose(t["hyperparams"]["lr"], best["hyperparams"]["lr"] * f, rtol=1e-12)
        assert t["steps"] == 60 and t["stop"] == "end"
        alone = runner.run(SPACE, [t["hyperparams"]], seed=5, start=i)  # the same id: the same keys
        np.testing.assert_allclose(t["history"]["metric"], alone.trials[0]["history"]["metric"], rtol=1e-5)
    assert sorted(t["stop"] for t in result.trials) == ["end"] * 4 + ["rung"] * 2
    assert runner.compile_counts == {"init": 1, "chunk": 1}

    assert _resumed(runner, 4, 5, RefineTheBest(), str(tmp_path / "own.npz"), at=40).to_dicts() == result.to_dicts()


def test_a_proposal_outside_the_space_is_refused_by_name():
    class Bad(sweep.Strategy):
        def decide(self, state, running):
            return sweep.Plan(start=({"lr": 0.1},)) if state.step == state.chunk_steps else sweep.Plan()

    with pytest.raises(ValueError, match=r"Plan.start: each given trial needs exactly the space's names \['b1', 'lr'\]"):
        _runner().run(SPACE, 2, seed=0, strategy=Bad())


def test_async_halving_starts_a_configuration_in_every_freed_row():
    reasons, running = {}, []
    # later configurations are better (metric -c); 9 in the pool, 3 at a time, rungs at 10 and 30
    stopped = problems.drive(sweep.AsyncHalving(3, concurrent=3), lambda c, s: (-float(c), "ok"), configs=9,
                             reasons=reasons, running=running)
    # by hand: 0, 1 lose to 2 at rung 10 (1 of 3 goes on); 3 and 4 arrive at rung 10 with
    # five recorded, the best 2 (4, 3) go on; at rung 30, 3 is behind 4 (1 of 3); every
    # later arrival is the best so far and goes on
    assert stopped == {0: 10, 1: 10, 3: 30, 2: 90, 4: 90, 5: 90, 6: 90, 7: 90, 8: 90}
    assert reasons == {0: "rung", 1: "rung", 3: "rung", **{c: "end" for c in (2, 4, 5, 6, 7, 8)}}
    assert running == [3] * 18 + [2] + [1] * 3  # full until the pool runs out


def test_async_halving_with_total_steps_never_spends_more():
    reasons, running = {}, []
    strategy = sweep.AsyncHalving(3, concurrent=3, total_steps=400)
    stopped = problems.drive(strategy, lambda c, s: (-float(c), "ok"), configs=30, reasons=reasons, running=running)
    # by hand (rungs at 10 and 30, the end at 90; later configurations better): as above
    # until 5 starts after chunk 4. After chunk 9 (270 spent), 2 ends and 6 starts: 4 and 5
    # need 10 + 40 to their next marks, 6 its first rung, 330 <= 400. After chunk 10, 7
    # starts (300 + 30 + 20 + 10 = 360). After chunk 13 (390 spent) one row is left: 6, at
    # 40, is nearer the end than 7 (30), so 7 stops ("budget"); 6 stops after one more
    assert stopped == {0: 10, 1: 10, 3: 30, 2: 90, 4: 90, 5: 90, 7: 30, 6: 50}
    assert reasons == {0: "rung", 1: "rung", 3: "rung", 2: "end", 4: "end", 5: "end", 7: "budget", 6: "budget"}
    assert 10 * sum(running) == 400 and running == [3] * 13 + [1]
    assert repr(strategy).endswith("concurrent=3, total_steps=400)")
    with pytest.raises(ValueError, match=r"AsyncHalving: total_steps=50 is less than one full training \(steps=90\)"):
        sweep.AsyncHalving(3, total_steps=50).init(9, 90, 10, "min")
    with pytest.raises(ValueError, match=r"BOHB: total_steps must be a positive int or None, got total_steps=0"):
        sweep.BOHB(3, total_steps=0)


def test_async_halving_in_the_runner_keeps_blocks_full_exactly_and_resumes(tmp_path):
    runner = _runner(width=4)
    strategy = sweep.AsyncHalving(3, concurrent=4)
    alive = []

    def watch(info):
        alive.append(info["alive"])

    result = runner.run(SPACE, 10, seed=4, strategy=strategy, callback=watch)
    assert runner.compile_counts == {"init": 1, "chunk": 1} and result.width == 4
    assert len(result.trials) == 10 and alive[:3] == [4, 4, 4]
    assert all(t["stop"] in ("rung", "end") for t in result.trials)
    late = max(result.trials, key=lambda t: (t["id"] if t["stop"] == "end" else -1))  # started mid-run
    alone = runner.run(SPACE, [late["hyperparams"]], seed=4, start=late["id"])
    np.testing.assert_allclose(late["history"]["metric"], alone.trials[0]["history"]["metric"], rtol=1e-5)

    # one block of 4 rows in each of the 7 chunks, every row busy while the pool lasts
    assert result.row_steps == 4 * 20 * len(alive) == 560 and result.trial_steps == 20 * sum(alive) == 440
    # synchronous halving on the same pool: 3 blocks (4 + 4 + 2 live rows) for the first
    # chunk, then the 4 survivors repacked into one block for the last two
    halved = runner.run(SPACE, 10, seed=4, halving=3)
    assert sorted(t["steps"] for t in halved.trials) == [20] * 6 + [60] * 4
    assert halved.row_steps == 12 * 20 + 4 * 40 and halved.trial_steps == 10 * 20 + 4 * 40
    assert sweep.SuccessiveHalving(3).trial_steps(10, 60, 20) == halved.trial_steps  # the cost the CLI caps bohb at

    resumed = _resumed(runner, 10, 4, strategy, str(tmp_path / "asha.npz"), at=40)
    assert resumed.to_dicts() == result.to_dicts() and resumed.row_steps == result.row_steps

    # capped: a pool of 30 it cannot finish, the same programs, never past 400 trial-steps
    capped = sweep.AsyncHalving(3, concurrent=4, total_steps=400)
    spent = runner.run(SPACE, 30, seed=4, strategy=capped)
    assert runner.compile_counts == {"init": 1, "chunk": 1} and spent.trial_steps == 400
    assert sum(t["steps"] for t in spent.trials) == 400 and {t["stop"] for t in spent.trials} >= {"rung", "end"}
    again = _resumed(runner, 30, 4, capped, str(tmp_path / "capped.npz"), at=60)
    assert again.to_dicts() == spent.to_dicts()
    with pytest.raises(ValueError, match=r"cannot share batches; pass Runner\(shared_batches=False\)"):
        _runner(shared_batches=True).run(SPACE, 4, strategy=strategy)


def test_bohb_proposes_from_a_model_of_the_results_near_the_best():
    pytest.importorskip("optuna")
    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0)})
    pool = space.sample(40, 0)
    start = [dict(h) for h in pool]

    def metrics(hp, step):  # best at lr = 1e-2, the same at every step
        return (float(np.log10(hp["lr"]) + 2) ** 2, "ok")

    bohb = sweep.BOHB(3, concurrent=4, random_fraction=0.0, min_points=6, seed=1)
    reasons = {}
    problems.drive(bohb, metrics, configs=40, reasons=reasons, pool=pool, space=space)
    proposed = pool[40:]
    # 4 from the pool, then more until 6 have a result; most of the rest the model proposes
    assert len(reasons) == 40 and len(proposed) > 20
    dist = lambda hs: np.median([abs(np.log10(h["lr"]) + 2) for h in hs])  # noqa: E731
    assert dist(proposed) < 0.7 * dist(start)  # the model concentrates near the optimum (0.43 vs 0.77 decades)
    assert all(1e-4 <= h["lr"] <= 1.0 for h in proposed)
    # the same decisions again (its sampler seeded by the seed and the proposals so far)
    again = [dict(h) for h in start]
    problems.drive(sweep.BOHB(3, concurrent=4, random_fraction=0.0, min_points=6, seed=1), metrics, configs=40,
                   pool=again, space=space)
    assert again == pool
    with pytest.raises(ValueError, match="BOHB: sampler must be 'tpe' or 'gp', got sampler='cmaes'"):
        sweep.BOHB(sampler="cmaes")


def test_bohb_in_the_runner_compiles_once_and_resumes_exactly(tmp_path):
    pytest.importorskip("optuna")
    runner = _runner(width=4)
    bohb = sweep.BOHB(3, concurrent=4, random_fraction=0.0, min_points=3, seed=0)
    result = runner.run(SPACE, 12, seed=6, strategy=bohb)
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    assert len(result.trials) == 12 and max(t["id"] for t in result.trials) >= 12  # proposals numbered after 12
    assert _resumed(runner, 12, 6, bohb, str(tmp_path / "bohb.npz"), at=60).to_dicts() == result.to_dicts()


def test_a_saved_state_of_another_kind_is_refused_by_its_fields():
    saved = sweep.Hyperband(3).init(9, 90, 10, "min").to_json()
    assert type(sweep.Hyperband(3).state_from_json(saved)).__name__ == "HyperbandState"
    old = {"configs": 9, "rung": 0, "alive": [0, 1]}  # an older optfn's plain dict
    with pytest.raises(ValueError, match=r"saved strategy state \(\['alive', 'configs', 'rung'\]\) does not fit "
                                         r"HalvingState .*start the sweep again in a new folder"):
        sweep.SuccessiveHalving(3).state_from_json(old)
    with pytest.raises(ValueError, match="does not fit AsyncHalvingState"):
        sweep.AsyncHalving(3).state_from_json(saved)


def test_resuming_a_checkpoint_whose_strategy_state_does_not_fit_is_refused_and_leaves_it(tmp_path):
    from optfn.sweep import _checkpoint

    runner, path = _runner(width=4), str(tmp_path / "old.npz")
    with pytest.raises(KeyboardInterrupt):
        runner.run(SPACE, 4, seed=1, halving=3, checkpoint=path, callback=_raise_at(20))
    with np.load(path) as f:
        payload = {k: f[k] for k in f.files}
    meta = json.loads(bytes(payload[_checkpoint._META]).decode())
    meta["strategy"] = {"configs": 4, "rung": 0}  # as an older optfn wrote it
    payload[_checkpoint._META] = np.frombuffer(json.dumps(meta).encode(), np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **payload)
    before = _bytes(path)
    with pytest.raises(sweep.CheckpointError, match=r"old\.npz: the saved strategy state .* does not fit HalvingState"):
        runner.run(SPACE, 4, seed=1, halving=3, checkpoint=path, resume=True)
    assert _bytes(path) == before


def _bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _raise_at(step):
    def callback(info):
        if info["step"] == step:
            raise KeyboardInterrupt

    return callback
