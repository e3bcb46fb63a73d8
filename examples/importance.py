"""Which hyperparameters matter? The lecture notes' random search on digits, then fANOVA.

    python examples/importance.py [--trials 128] [--steps 300] [--seed 0]

The notes rank what to tune: the learning rate first; then momentum (Adam's ``b1``),
the mini-batch size and the hidden units; then the number of layers and the
learning-rate decay. This samples all six at random, as the notes do: learning rate
log-uniform in [1e-4, 1], ``b1`` as ``1 - 10**U(-3, -1)``, hidden units
``int_uniform(50, 100)``, 2..4 hidden layers (``traced=True``: one model built at 4
layers skips the layers a trial does not use), mini-batch size from {32, 64, 128,
256}, decay ``a0 / (1 + r * epoch)`` with ``r`` log-uniform in [1e-2, 1]. Every trial
trains ``--steps`` Adam steps of an MLP on scikit-learn's digits (widths and batch sizes
share padded programs), ranked by validation cross-entropy; then
``result.importance()`` gives each hyperparameter's share of the variance of the
validation loss, in the coordinates it was sampled on, and PED-ANOVA what matters among
the best 10%. ``benchmarks/structure.py`` times the same search.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

import optfn
from optfn import sweep

LAYERS = 4  # the model is built at the most layers; a trial uses hp["layers"] of them


def digits():
    """Training and validation data: scikit-learn's digits, 75/25."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x_tr, x_val, y_tr, y_val = train_test_split((d.data / 16.0).astype(np.float32), d.target.astype(np.int32),
                                                test_size=0.25, random_state=0)
    return {"x": jnp.asarray(x_tr), "y": jnp.asarray(y_tr)}, {"x": jnp.asarray(x_val), "y": jnp.asarray(y_val)}


def init(key, hp):
    h, keys = hp["hidden"], jax.random.split(key, LAYERS + 1)
    sizes = [64] + [h] * LAYERS
    layers = [{"w": jax.nn.initializers.he_normal()(k, (a, b)), "b": jnp.zeros(b)}
              for k, a, b in zip(keys, sizes[:-1], sizes[1:])]
    return {"hidden": layers, "out": {"w": jax.nn.initializers.glorot_normal()(keys[-1], (h, 10)),
                                      "b": jnp.zeros(10)}}


def forward(params, x, layers):
    h = jax.nn.relu(x @ params["hidden"][0]["w"] + params["hidden"][0]["b"])
    for i, layer in enumerate(params["hidden"][1:], start=1):  # layers beyond the trial's pass h through
        h = jnp.where(i < layers, jax.nn.relu(h @ layer["w"] + layer["b"]), h)
    return h @ params["out"]["w"] + params["out"]["b"]


def cross_entropy(params, batch, hp):
    logp = jax.nn.log_softmax(forward(params, batch["x"], hp["layers"]))
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


def notes_space(fixed_structure: bool = False) -> sweep.Space:
    """The notes' six hyperparameters; ``fixed_structure`` pins hidden units and batch size at their largest."""
    dims = {"learning_rate": sweep.log_uniform(1e-4, 1.0), "b1": sweep.one_minus_log_uniform(0.9, 0.999),
            "hidden": sweep.int_uniform(50, 100), "layers": sweep.int_uniform(2, LAYERS, traced=True),
            "batch_size": sweep.choice(32, 64, 128, 256), "decay": sweep.log_uniform(1e-2, 1.0)}
    if fixed_structure:
        dims.update(hidden=sweep.fixed(100), batch_size=sweep.fixed(256))
    return sweep.Space(dims)


def notes_runner(steps: int, padding="auto") -> sweep.Runner:
    train, val = digits()
    runner = sweep.Runner(init=init, loss=cross_entropy, evaluate=cross_entropy, data=train, eval_data=val,
                          steps=steps, chunk_steps=steps // 3, batch_size=128, padding=padding,
                          optimizer=lambda hp: optfn.adam(optfn.per_epoch(
                              optfn.inverse_time_decay(hp["learning_rate"], decay_rate=hp["decay"]),
                              runner.steps_per_epoch(hp)), b1=hp["b1"]))
    return runner


def main(trials=128, steps=300, seed=0):
    result = notes_runner(steps).run(notes_space(), trials, seed=seed)
    best = result.best()
    print(f"{len(result)} configurations, best validation loss {best['metric']:.4f} with "
          f"{ {k: round(v, 4) if isinstance(v, float) else v for k, v in best['hyperparams'].items()} }")
    imp = result.importance()
    print("\nshare of the validation loss's variance (fANOVA, sampled coordinates):")
    print(imp)
    print("\namong the best 10% (PED-ANOVA):")
    print(result.importance("ped_anova", quantile=0.1))
    notes = ["learning_rate", "b1", "batch_size", "hidden", "layers", "decay"]
    print(f"\nthe notes' order: {notes}\nthis sweep's:     {imp.order()}")
    return result, imp


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=128)
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(a.trials, a.steps, a.seed)
