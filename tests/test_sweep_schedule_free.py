"""A sweep of a schedule-free optimizer is judged, and hands back, the averaged params."""

import jax
import jax.numpy as jnp
import numpy as np

import optfn
from optfn import sweep

X = jax.random.normal(jax.random.PRNGKey(0), (64, 4))
DATA = {"x": X, "y": X @ jnp.array([1.0, -2.0, 0.5, 3.0])}


def _loss(p, batch):
    return jnp.mean((batch["x"] @ p["w"] - batch["y"]) ** 2)


def test_the_metric_and_the_models_are_at_the_schedule_free_average():
    opt = lambda h: optfn.schedule_free_sgd(h["lr"], b1=h["b1"])  # noqa: E731
    runner = sweep.Runner(init=lambda key, hp: {"w": jnp.zeros(4)}, loss=_loss, optimizer=opt,
                          data=lambda key, step: DATA, batch_size=64, steps=20, chunk_steps=10,
                          evaluate=_loss, eval_data=DATA, width=2)
    space = sweep.Space({"lr": sweep.log_uniform(0.01, 0.1), "b1": sweep.uniform(0.5, 0.95)})
    result = runner.run(space, 2, seed=0)
    for t in result.trials:
        hp = t["hyperparams"]
        alone = opt(hp)
        p = {"w": jnp.zeros(4)}
        s = alone.init(p)
        for _ in range(20):  # full batch: every step sees all the data, as the sweep's
            u, s = alone.update(jax.grad(_loss)(p, DATA), s, p)
            p = optfn.apply_updates(p, u)
        x = optfn.schedule_free_eval_params(s, p)
        assert float(_loss(x, DATA)) != float(_loss(p, DATA))  # the average is not the training point
        np.testing.assert_allclose(t["metric"], float(_loss(x, DATA)), rtol=1e-5)
        np.testing.assert_allclose(result.models[(t["id"], 0)]["w"], x["w"], rtol=1e-5, atol=1e-7)
