"""The sweep runner: trials equal their solo runs, NaNs stay put, halving saves compute."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
import problems
from optfn import sweep

X = jax.random.normal(jax.random.PRNGKey(0), (256, 4))
Y = X @ jnp.array([1.0, -2.0, 0.5, 3.0]) + 0.1 * jax.random.normal(jax.random.PRNGKey(1), (256,))
DATA = {"x": X, "y": Y}


def _init(key, hp):
    return {"w": 0.1 * jax.random.normal(key, (4,)), "b": jnp.zeros(())}


def _loss(p, batch):
    return jnp.mean((batch["x"] @ p["w"] + p["b"] - batch["y"]) ** 2)


def _evaluate(p, data):
    return _loss(p, data)


def _runner(**kw):
    args = dict(init=_init, loss=_loss, optimizer=lambda h: optfn.sgd(h["lr"], momentum=h["m"]), data=DATA,
                steps=60, chunk_steps=20, batch_size=16, evaluate=_evaluate, eval_data=DATA)
    args.update(kw)
    return sweep.Runner(**args)


SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.1), "m": sweep.one_minus_log_uniform(0.5, 0.99)})


def test_each_trial_is_bit_identical_at_the_same_width_and_close_at_any_other():
    runner = _runner()
    together = runner.run(SPACE, 6, seed=5)
    assert together.width == 6
    narrow, single = _runner(width=4).run(SPACE, 6, seed=5), _runner(width=1).run(SPACE, 6, seed=5)
    for i in (0, 3, 5):
        alone = runner.run(SPACE, 1, seed=5, start=i).trials[0]  # same runner, same width: padded block
        assert alone["hyperparams"] == together.trials[i]["hyperparams"]
        np.testing.assert_array_equal(together.trials[i]["history"]["metric"], alone["history"]["metric"])
        # another width changes XLA's summation order: equal to float32 rounding
        for other in (narrow, single):
            np.testing.assert_allclose(other.trials[i]["history"]["metric"], alone["history"]["metric"], rtol=1e-5)
    assert together.best()["metric"] < 0.05


def test_blow_ups_are_flagged_and_change_no_other_trial():
    # the same start and data for every trial, so only the learning rate differs
    runner = _runner(data=lambda key, step: DATA, init=lambda key, hp: {"w": jnp.zeros(4), "b": jnp.zeros(())},
                     optimizer=lambda h: optfn.sgd(h["lr"]), width=8)
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 1e30)})
    sane = [{"lr": 0.01}, {"lr": 0.03}, {"lr": 0.1}]
    absurd = [{"lr": 1e3}, {"lr": 1e6}, {"lr": 1e12}, {"lr": 1e30}]
    mixed = runner.run(space, sane[:1] + absurd[:2] + sane[1:2] + absurd[2:] + sane[2:])
    without = runner.run(space, sane)
    statuses = {t["hyperparams"]["lr"]: t["status"] for t in mixed.trials}
    assert all(statuses[h["lr"]] in ("nan", "diverged") for h in absurd), statuses
    assert all(statuses[h["lr"]] == "ok" for h in sane)
    ok = [t for t in mixed.trials if t["status"] == "ok"]
    for a, b in zip(ok, without.trials):  # bit-identical: same width, whatever the neighbours
        np.testing.assert_array_equal(a["history"]["metric"], b["history"]["metric"])
    assert [t["hyperparams"]["lr"] for t in mixed.top(10)] == [0.1, 0.03, 0.01]
    assert mixed.best()["hyperparams"]["lr"] == 0.1
    # failed trials stop at once, and the step-0 evaluation is every history's first point
    assert all(t["steps"] == 20 for t in mixed.trials if t["status"] != "ok")
    assert all(t["history"]["step"][0] == 0 for t in mixed.trials)


def test_a_blow_up_inside_the_first_chunk_is_caught_by_the_step_zero_loss():
    runner = _runner(steps=20, chunk_steps=20, data=lambda key, step: DATA, optimizer=lambda h: optfn.sgd(h["lr"]),
                     init=lambda key, hp: {"w": jnp.zeros(4), "b": jnp.zeros(())})
    result = runner.run(sweep.Space({"lr": sweep.log_uniform(1e-3, 10.0)}), [{"lr": 0.05}, {"lr": 1.2}])
    slow, fast = result.trials
    assert slow["status"] == "ok"
    assert fast["status"] == "diverged" and math.isfinite(fast["history"]["loss"][-1])


def test_successive_halving_cuts_trial_steps_and_keeps_the_best():
    # easy: full batch, same start, plain SGD well below its stability limit, so the
    # loss at every step falls with the learning rate and the largest rate is best
    def make():
        return _runner(steps=270, chunk_steps=10, data=lambda key, step: DATA, optimizer=lambda h: optfn.sgd(h["lr"]),
                       init=lambda key, hp: {"w": jnp.zeros(4), "b": jnp.zeros(())})

    space = sweep.Space({"lr": sweep.log_uniform(1e-4, 3e-2)})
    full = make().run(space, 27, seed=1)
    halved = make().run(space, 27, seed=1, halving=3)  # rungs at 30 and 90 steps
    assert full.trial_steps == 27 * 270
    assert halved.trial_steps == 27 * 30 + 9 * 60 + 3 * 180
    assert sorted(t["steps"] for t in halved.trials) == [30] * 18 + [90] * 6 + [270] * 3
    assert halved.width == 8  # the last rung's 3 trials, at least 8 per program
    assert halved.best()["id"] == full.best()["id"]
    assert halved.best()["metric"] == pytest.approx(full.best()["metric"], rel=1e-5)
    survivors = [t for t in halved.trials if t["steps"] == 270]
    assert all(len(t["history"]["metric"]) == 28 for t in survivors)  # step 0, then 27 chunks
    early = next(i for i, t in enumerate(halved.trials) if t["steps"] == 30)
    assert np.isnan(halved.history()[early, 4:]).all() and np.isfinite(halved.history()[early, :4]).all()


def test_halving_then_a_zoomed_round_then_confirm_compile_each_program_once():
    compiled = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, secs, **kw: compiled.append(event) if event == "/jax/core/compile/backend_compile_duration"
        else None)
    runner = _runner(chunk_steps=10)
    first = runner.run(SPACE, 24, seed=0, halving=3, min_steps=10)  # rungs at 10 and 30: 24, 8, 3 trials
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    assert first.timings["compile"] > 0 and first.timings["train"] > 0
    zoomed = SPACE.zoom(first, top_k=3)
    before = len(compiled)
    second = runner.run(zoomed, 24, seed=1, halving=3, min_steps=10)
    runner.confirm(second, top_k=2, seeds=3)
    assert len(compiled) == before  # JAX's own count: nothing at all compiled again
    assert runner.compile_counts == {"init": 1, "chunk": 1}
    assert second.timings["compile"] == 0.0
    for t in second.trials:
        assert zoomed.dimensions["lr"].low <= t["hyperparams"]["lr"] <= zoomed.dimensions["lr"].high


def test_structural_hyperparameters_group_trials_into_programs():
    def init(key, hp):
        return {"w1": 0.3 * jax.random.normal(key, (4, hp["hidden"])), "w2": jnp.zeros((hp["hidden"],))}

    def loss(p, batch):
        return jnp.mean((jnp.tanh(batch["x"] @ p["w1"]) @ p["w2"] - batch["y"]) ** 2)

    runner = _runner(init=init, loss=loss, evaluate=None, optimizer=lambda h: optfn.adam(h["lr"]), padding=None)
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 1e-1), "hidden": sweep.choice(8, 16)})
    result = runner.run(space, 10, seed=0)
    assert {t["hyperparams"]["hidden"] for t in result.trials} == {8, 16}
    assert runner.compile_counts == {"init": 2, "chunk": 2}
    assert all(t["status"] == "ok" for t in result.trials)


def test_model_state_such_as_batch_norm_statistics():
    runner = _runner(init=problems.bn_init, loss=problems.bn_loss, evaluate=problems.bn_evaluate, has_state=True,
                     optimizer=lambda h: optfn.adam(h["lr"]))
    result = runner.run(sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2)}), 4, seed=0)
    assert result.best()["metric"] < float(jnp.var(Y))
    params, state = result.best_params()  # has_state: the model state comes back too
    assert isinstance(state, optfn.BatchNormState) and state.mean.shape == (8,)
    np.testing.assert_allclose(problems.bn_evaluate(params, state, DATA), result.best()["metric"], rtol=1e-5)


def test_results_export(tmp_path):
    result = _runner().run(SPACE, 5, seed=0)
    assert result.history().shape == (5, 4) and result.history("loss").shape == (5, 4)
    loaded = json.loads(result.to_json(str(tmp_path / "r.json")))
    assert len(loaded["trials"]) == 5 and loaded["trials"][0]["hyperparams"].keys() == {"lr", "m"}
    assert json.loads((tmp_path / "r.json").read_text()) == loaded
    assert result.to_dicts()[2]["id"] == 2
    assert "best metric" in repr(result)


@pytest.mark.slow
def test_dataframe_and_plot(tmp_path):
    result = _runner().run(SPACE, 5, seed=0)
    pd = pytest.importorskip("pandas")
    frame = result.to_dataframe()
    assert isinstance(frame, pd.DataFrame) and list(frame.columns[:4]) == ["id", "status", "metric", "steps"]
    pytest.importorskip("matplotlib")
    fig = result.plot(str(tmp_path / "sweep.png"), space=SPACE)
    assert (tmp_path / "sweep.png").stat().st_size > 0
    assert fig.axes[0].get_xscale() == "log" and fig.axes[1].get_xlabel() == "1 - m"
    halved = _runner().run(SPACE, 8, seed=0, halving=2, min_steps=20)
    trials = [{**t, "round": 1 + (t["id"] % 2)} for t in halved.trials]
    fig = sweep.SweepResult(trials, space=SPACE).plot(metric_name="validation loss", space=SPACE)
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert fig.axes[0].get_ylabel() == "validation loss"
    assert "round 1" in labels and any("stopped early" in lab for lab in labels)


def test_memory_estimate_before_a_big_run():
    est = _runner().memory_estimate(SPACE)
    assert est["per_trial_bytes"] > 0 and est["fixed_bytes"] >= 0


@pytest.mark.slow
def test_bad_input_is_caught_before_compiling():
    with pytest.raises(ValueError, match="loss must return a scalar"):
        _runner(loss=lambda p, b: (b["x"] @ p["w"] - b["y"]) ** 2).run(SPACE, 2)
    with pytest.raises(ValueError, match=r"same leading \(example\) dimension.*256.*100"):
        _runner(data={"x": X, "y": Y[:100]})
    with pytest.raises(ValueError, match="trials must be a positive int, got trials=0"):
        _runner().run(SPACE, 0)
    with pytest.raises(ValueError, match="steps=50 must be a multiple of chunk_steps=20"):
        _runner(steps=50)
    with pytest.raises(ValueError, match="batch_size is a shape, so it must be structural"):
        _runner().run(sweep.Space({"lr": sweep.log_uniform(1e-3, 0.1), "m": 0.9,
                                   "batch_size": sweep.uniform(8, 64)}), 2)
    with pytest.raises(ValueError, match="top_k must be a positive int, got top_k=0"):
        SPACE.zoom(_runner().run(SPACE, 2), top_k=0)
    with pytest.raises(ValueError, match="halving must be an int >= 2"):
        _runner().run(SPACE, 4, halving=1)
    runner = _runner()
    with pytest.warns(UserWarning, match=r"\['learning_rate'\] are sampled but never read"):
        runner.run(sweep.Space({"lr": sweep.log_uniform(1e-3, 0.1), "m": 0.9,
                                "learning_rate": sweep.log_uniform(1e-3, 0.1)}), 2)
    assert math.isfinite(runner.run(SPACE, 2).best()["metric"])


def test_progress_bar_shows_compilation_trials_alive_and_the_best_so_far(capsys):
    _runner().run(SPACE, 4, seed=0, halving=2, min_steps=20, progress=True)
    err = capsys.readouterr().err
    assert "compiling init, chunk" in err and "alive=2" in err and "best=" in err


@pytest.mark.slow
def test_the_automatic_width_fits_in_half_the_device_memory(monkeypatch):
    from optfn.sweep import _width as width_module

    runner = _runner()
    per_trial = runner.memory_estimate(SPACE)["per_trial_bytes"]
    monkeypatch.setattr(width_module, "device_bytes", lambda: 2 * 5 * per_trial)  # room for 5 trials
    assert runner.run(SPACE, 12, seed=0).width == 5


@pytest.mark.parametrize("name", ["state.npz", "orbax_folder"])
def test_checkpoint_resume_in_process_equals_an_uninterrupted_run(tmp_path, name):
    if not name.endswith(".npz"):
        pytest.importorskip("orbax.checkpoint")
    runner, path = _runner(), str(tmp_path / name)
    full = runner.run(SPACE, 10, seed=2, halving=2, min_steps=20, seeds=2)

    class Stop(Exception):
        pass

    def stop_after_two_chunks(info):
        if info["step"] == 40:
            raise Stop

    with pytest.raises(Stop):
        runner.run(SPACE, 10, seed=2, halving=2, min_steps=20, seeds=2, checkpoint=path, callback=stop_after_two_chunks)
    with pytest.raises(ValueError, match="already holds a sweep checkpoint"):
        runner.run(SPACE, 10, seed=2, halving=2, min_steps=20, seeds=2, checkpoint=path)
    with pytest.raises(ValueError, match="written with other settings.*strategy: checkpoint 'SuccessiveHalving"):
        runner.run(SPACE, 10, seed=2, min_steps=20, seeds=2, checkpoint=path, resume=True)
    resumed = runner.run(SPACE, 10, seed=2, halving=2, min_steps=20, seeds=2, checkpoint=path, resume=True)
    np.testing.assert_array_equal(resumed.history(), full.history())
    assert [t["replica_metrics"] for t in resumed.trials] == [t["replica_metrics"] for t in full.trials]
    assert resumed.trial_steps == full.trial_steps
    for i in range(10):  # the trained params too, of trials stopped before and after the interruption
        for a, b in zip(jax.tree.leaves(resumed.params(i, replica=1)), jax.tree.leaves(full.params(i, replica=1))):
            np.testing.assert_array_equal(a, b)


# after a failed read, tensorstore calls back into orbax's closed event loop: noise, not an error of ours
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_damaged_orbax_checkpoint_is_reported_and_left_alone(tmp_path):
    pytest.importorskip("orbax.checkpoint")
    runner, folder = _runner(steps=20), tmp_path / "ckpt"
    runner.run(SPACE, 4, seed=0, checkpoint=str(folder))
    damaged = [p for p in folder.rglob("*") if p.is_file() and p.parent.name == "d"]
    assert damaged
    for p in damaged:  # truncate every data file
        p.write_bytes(p.read_bytes()[:7])
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(sweep.CheckpointError, match="cannot be read.*left as it is"):
        runner.run(SPACE, 4, seed=0, checkpoint=str(folder), resume=True)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match="is a file; an orbax checkpoint is a folder"):
        runner.run(SPACE, 4, seed=0, checkpoint=str(damaged[0]))
