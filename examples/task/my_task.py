"""A task for `optfn sweep --task`: a one-hidden-layer regression, copy and adapt it.

    optfn sweep --task examples/task/my_task.py:make_task --space examples/task/space.toml
"""

import jax, jax.numpy as jnp, numpy as np
import optfn

def make_task():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 8)).astype(np.float32)
    y = (x @ np.arange(8.0) + 0.1 * rng.normal(size=512)).astype(np.float32)

    def init(key, hp):
        k1, k2 = jax.random.split(key)
        return {"w1": jax.nn.initializers.he_normal()(k1, (8, hp["hidden"])),
                "w2": jax.nn.initializers.glorot_normal()(k2, (hp["hidden"], 1))}

    def mse(params, batch):
        return jnp.mean((jax.nn.relu(batch["x"] @ params["w1"]) @ params["w2"] - batch["y"][:, None]) ** 2)

    def loss(params, batch, hp):  # names hp: gets the trial's hyperparameters, l2 traced
        return mse(params, batch) + hp["l2"] * sum(jnp.sum(w ** 2) for w in params.values())

    split = lambda a, b: {"x": x[a:b], "y": y[a:b]}  # noqa: E731
    return {"init": init, "loss": loss, "evaluate": mse,
            "optimizer": lambda hp: optfn.adam(hp["learning_rate"], b1=hp["b1"]),
            "data": split(0, 320), "eval_data": split(320, 416),
            "test_data": split(416, 512),  # the picks are measured on it; no decision sees it
            "metric_name": "validation mse", "batch_size": 64}  # batch_size: --batch-size's default
