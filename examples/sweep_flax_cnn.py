"""A flax nnx CNN with batch norm and dropout in a sweep: 8x8 digits, learning rate, b1 and dropout rate searched.

    python examples/sweep_flax_cnn.py [--trials 16] [--steps 200]

The runner trains pure functions of arrays, so the model is split once into its graph
(static) and its state: ``init`` builds the model from the trial's key and returns
``(params, batch_stats)`` as plain dicts of arrays (``nnx.to_pure_dict``); ``loss`` merges
them back into a model, runs it in training mode and returns the updated statistics.
Every trial is one row of the same vmapped program; ``result.best_params()`` hands back
the winner's arrays, which ``model_of`` turns into a model again.

``loss`` names ``hp`` and ``key``, so the runner hands it the trial's hyperparameters and
a PRNG key per step, which ``nnx.Dropout`` takes as its ``rngs``. ``nnx.Dropout`` tests its
rate in Python (``if self.rate == 0.0``), so the rate cannot be a traced value: it is a
``choice``, and each rate compiles its own programs (equinox's ``Dropout`` takes a traced
rate: ``sweep_equinox_cnn.py``).
"""

import argparse
import time

import jax
import jax.numpy as jnp
from flax import nnx

import optfn
from optfn import sweep
from train_digits import digits_split


class CNN(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 8, kernel_size=(3, 3), use_bias=False, rngs=rngs)
        self.norm = nnx.BatchNorm(8, momentum=0.9, rngs=rngs)
        self.drop = nnx.Dropout(0.0)
        self.out = nnx.Linear(8 * 4 * 4, 10, rngs=rngs)

    def __call__(self, x, key=None):  # x: (batch, 64) pixels in [0, 1]
        h = self.conv(x.reshape(-1, 8, 8, 1))
        h = jax.nn.relu(self.norm(h))
        h = nnx.avg_pool(h, window_shape=(2, 2), strides=(2, 2))
        return self.out(self.drop(h.reshape(h.shape[0], -1), rngs=key))


GRAPH, PARAMS, STATS = nnx.split(CNN(nnx.Rngs(0)), nnx.Param, nnx.BatchStat)  # the structure, shared


def init(key, hp):
    _, params, stats = nnx.split(CNN(nnx.Rngs(key)), nnx.Param, nnx.BatchStat)
    return nnx.to_pure_dict(params), nnx.to_pure_dict(stats)


def model_of(params, stats) -> CNN:
    """A model from plain arrays (fresh variables each call, so nothing leaks between traces)."""
    p, s = jax.tree.map(lambda v: v, PARAMS), jax.tree.map(lambda v: v, STATS)
    nnx.replace_by_pure_dict(p, params)
    nnx.replace_by_pure_dict(s, stats)
    return nnx.merge(GRAPH, p, s)


def cross_entropy(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def loss(params, stats, batch, hp, key):
    model = model_of(params, stats)
    model.train()
    model.drop.rate = hp["dropout"]  # a Python float: dropout is a structural choice here
    value = cross_entropy(model(batch["x"], key), batch["y"])
    return value, nnx.to_pure_dict(nnx.state(model, nnx.BatchStat))


def evaluate(params, stats, data):
    model = model_of(params, stats)
    model.eval()  # the running averages, as at test time
    return cross_entropy(model(data["x"]), data["y"])


def runner(steps=200, chunk_steps=50, data_fn=None):
    x_tr, x_te, y_tr, y_te = digits_split(0)
    return sweep.Runner(init=init, loss=loss, evaluate=evaluate, has_state=True,
                        optimizer=lambda hp: optfn.adam(hp["learning_rate"], b1=hp["b1"]),
                        data=data_fn or {"x": x_tr, "y": y_tr}, eval_data={"x": x_te, "y": y_te},
                        steps=steps, chunk_steps=chunk_steps, batch_size=128)


SPACE = sweep.Space({"learning_rate": sweep.log_uniform(1e-3, 1e-1), "b1": sweep.one_minus_log_uniform(0.8, 0.99),
                     "dropout": sweep.choice(0.0, 0.25)})


def main(trials=16, steps=200):
    t0 = time.perf_counter()
    result = runner(steps).run(SPACE, trials, seed=0, halving=3)
    best = result.best()
    model = model_of(*result.best_params())
    model.eval()
    _, x_te, _, y_te = digits_split(0)
    accuracy = float(jnp.mean(jnp.argmax(model(x_te), -1) == y_te))
    print(f"{trials} CNNs in {time.perf_counter() - t0:.1f} s; best: val loss {best['metric']:.4f}, "
          f"test accuracy {accuracy:.3f} with {best['hyperparams']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    main(args.trials, args.steps)
