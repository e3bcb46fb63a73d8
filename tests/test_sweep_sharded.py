"""Sweeps sharded over the trials axis of a mesh give the same numbers on 1, 2 and 8 devices."""

import jax
import numpy as np
import pytest

import optfn
import problems
from optfn import sweep

DATA = problems.tanh_data(128)
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.one_minus_log_uniform(0.5, 0.99)})


def _runner(**kw):
    return problems.tanh_runner(DATA, **kw)


def _metrics(result):
    return np.array([t["history"]["metric"] for t in result.trials if t["steps"] == 40])


@pytest.mark.slow
def test_automatic_width_is_a_multiple_of_the_devices_and_kept_per_device_count():
    runner = _runner()
    assert runner.run(SPACE, 11, seed=0, halving=2, min_steps=20).width == 8
    assert runner.run(SPACE, 11, seed=0, halving=2, min_steps=20, mesh=sweep.trials_mesh(jax.devices()[:3])).width == 9
    with pytest.raises(ValueError, match="width=4 must be a multiple of the mesh's 8 devices"):
        _runner(width=4).run(SPACE, 4, mesh="auto")


@pytest.mark.parametrize("halving", [None, pytest.param(2, marks=pytest.mark.slow)])
def test_same_results_on_one_two_and_eight_devices(halving):
    runner = _runner()
    alone = runner.run(SPACE, 11, seed=3, halving=halving, min_steps=20)
    for n in (1, 8):  # a one-device mesh, and every device (11 trials padded to 16 rows)
        mesh = sweep.trials_mesh(jax.devices()[:n])
        sharded = runner.run(SPACE, 11, seed=3, halving=halving, min_steps=20, mesh=mesh)
        assert len(sharded.trials) == 11  # padding trials are never reported
        assert [t["steps"] for t in sharded.trials] == [t["steps"] for t in alone.trials]
        np.testing.assert_allclose(_metrics(sharded), _metrics(alone), rtol=2e-5, atol=1e-7)


def test_per_trial_arrays_are_split_across_the_devices():
    runner = _runner()
    mesh = sweep.trials_mesh()
    result = runner.run(SPACE, 8, seed=0, mesh=mesh)
    assert result.width == 8
    numeric = sweep._mesh.place({"lr": np.full(8, 1e-2, np.float32), "b1": np.full(8, 0.9, np.float32)}, mesh)
    keys = sweep._mesh.place(np.asarray(jax.random.split(jax.random.PRNGKey(0), 8)), mesh)
    shared = sweep._mesh.replicate(jax.random.PRNGKey(1), mesh)
    extent = sweep._mesh.place(np.zeros((8, 1), np.int32), mesh)
    carry, loss0, _ = runner.programs.init(sweep._structure.Layout.single({}), mesh, keys, numeric, extent, shared,
                                           sweep._mesh.replicate(DATA, mesh), sweep._mesh.replicate(DATA, mesh))
    assert runner.compile_counts["init"] == 1  # the program the run compiled
    for leaf in jax.tree.leaves((carry, loss0)):
        assert leaf.sharding.spec[0] == "trials" and len(leaf.sharding.device_set) == 8
        assert leaf.addressable_shards[0].data.shape[0] == 1


def test_ensemble_batch_norm_sharded_over_trials_keeps_each_trials_statistics():
    runner = _runner(init=problems.bn_init, loss=problems.bn_loss, evaluate=problems.bn_evaluate, has_state=True,
                     optimizer=lambda h: optfn.sgd(h["lr"]))
    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 3e-2)})
    alone = runner.run(space, 8, seed=1)
    sharded = runner.run(space, 8, seed=1, mesh="auto")
    np.testing.assert_allclose(_metrics(sharded), _metrics(alone), rtol=2e-5)
    assert len({round(m, 6) for m in _metrics(sharded)[:, -1]}) == 8


def test_a_mesh_without_a_trials_axis_is_refused():
    mesh = jax.make_mesh((8,), ("data",))
    with pytest.raises(ValueError, match="needs an axis named 'trials'"):
        _runner().run(SPACE, 4, mesh=mesh)
