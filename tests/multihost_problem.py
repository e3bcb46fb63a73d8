"""The small sweep that the multi-process test runs in two processes and in one."""

import jax
import jax.numpy as jnp
import numpy as np

import interrupt
import optfn
from optfn import sweep

SPACE = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3), "b1": sweep.one_minus_log_uniform(0.5, 0.99)})


def run(mesh=None, stream=False, checkpoint=None, stop_at=None):
    """The sweep; ``stream`` feeds the data as host batches (each process its own copy);
    ``checkpoint`` and ``stop_at`` (a step) interrupt it and ``resume`` it."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype(np.float32)  # every process holds its own copy
    data = {"x": x, "y": (x @ np.array([1.0, -2.0, 0.5, 3.0], np.float32))}

    def init(key, hp):
        return {"w1": 0.5 * jax.random.normal(key, (4, 8)), "w2": jnp.zeros(8)}

    def loss(p, batch):
        return jnp.mean((jnp.tanh(batch["x"] @ p["w1"]) @ p["w2"] - batch["y"]) ** 2)

    def batches(step):  # batch t: rows (16 t .. 16 t + 15) mod 128
        while True:
            i = step % 8
            yield {"x": data["x"][16 * i:16 * i + 16], "y": data["y"][16 * i:16 * i + 16]}
            step += 1

    runner = sweep.Runner(init=init, loss=loss, optimizer=lambda h: optfn.adam(h["lr"], b1=h["b1"]),
                          data=sweep.Stream(batches) if stream else data,
                          evaluate=loss, eval_data=data, steps=40, chunk_steps=10, batch_size=16)
    return runner.run(SPACE, 10, seed=7, halving=2, min_steps=20, mesh=mesh, checkpoint=checkpoint,
                      resume=checkpoint is not None,
                      callback=None if stop_at is None else interrupt.stop_at(stop_at))
