"""``time_budget``: no chunk starts once it is spent; the best so far comes back, and a
resume from the checkpoint finishes the sweep as if it had never stopped."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn
from optfn import sweep

X = np.asarray(jax.random.normal(jax.random.key(0), (128, 3)), np.float32)
DATA = {"x": X, "y": X @ np.array([1.0, -2.0, 0.5], np.float32)}
SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3)})


def mse(w, b):
    return jnp.mean((b["x"] @ w - b["y"]) ** 2)


RUNNER = sweep.Runner(init=lambda key, hp: jnp.zeros(3), loss=mse, optimizer=lambda h: optfn.sgd(h["lr"]),
                      data=DATA, evaluate=mse, eval_data=DATA, steps=60, chunk_steps=20, batch_size=16)


def test_a_spent_budget_stops_every_configuration_and_resume_finishes(tmp_path):
    path = str(tmp_path / "s.npz")
    cut = RUNNER.run(SPACE, 6, seed=1, checkpoint=path, time_budget=1e-9)  # spent after the first chunk
    assert cut.budget_spent and '"budget_spent": true' in cut.to_json()
    assert all(t["stop"] == "budget" and t["steps"] == 20 for t in cut.trials)
    assert cut.best() is not None and cut.best_params().shape == (3,)
    resumed = RUNNER.run(SPACE, 6, seed=1, checkpoint=path, resume=True)
    whole = RUNNER.run(SPACE, 6, seed=1)
    assert not resumed.budget_spent and all(t["stop"] == "end" for t in resumed.trials)
    np.testing.assert_array_equal(resumed.history(), whole.history())


def test_coarse_to_fine_starts_no_round_or_confirmation_past_its_budget():
    result = sweep.coarse_to_fine(RUNNER, SPACE, 6, rounds=3, halving=None, confirm=2, confirm_seeds=2,
                                  time_budget=1e-9)
    assert result.budget_spent and result.confirmed is None
    assert {t["round"] for t in result.trials} == {1}


@pytest.mark.parametrize("budget", [0, -1.0, "10m", True])
def test_a_bad_budget_is_refused(budget):
    with pytest.raises(ValueError, match="time_budget must be a number of seconds > 0 or None"):
        RUNNER.run(SPACE, 2, time_budget=budget)
