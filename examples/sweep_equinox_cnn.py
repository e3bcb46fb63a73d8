"""An equinox CNN with dropout in a sweep: 8x8 digits, learning rate, b1 and dropout rate searched.

    python examples/sweep_equinox_cnn.py [--trials 16] [--steps 200]

An equinox model is a pytree; ``eqx.partition`` splits it into its arrays (what the
optimizer trains, one row per trial) and the rest (static, shared). ``init`` returns
the arrays of a model built from the trial's key, ``loss`` combines them with the static
part and calls the model. ``loss`` names ``hp`` and ``key``, so the runner hands it the
trial's hyperparameters and a PRNG key per step: ``eqx.nn.Dropout`` takes the traced rate
``hp["dropout"]``, and every rate trains in the same program. (Equinox's own ``BatchNorm`` needs a named batch axis inside
``vmap``; this model has none: see ``sweep_flax_cnn.py`` for batch norm.)
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp

import optfn
from optfn import sweep
from train_digits import digits_split


class CNN(eqx.Module):
    conv: eqx.nn.Conv2d
    out: eqx.nn.Linear

    def __init__(self, key):
        k1, k2 = jax.random.split(key)
        self.conv = eqx.nn.Conv2d(1, 8, kernel_size=3, padding=1, key=k1)
        self.out = eqx.nn.Linear(8 * 4 * 4, 10, key=k2)

    def __call__(self, x, rate=0.0, key=None):  # one image: 64 pixels in [0, 1]
        h = jax.nn.relu(self.conv(x.reshape(1, 8, 8)))
        h = h.reshape(8, 4, 2, 4, 2).mean(axis=(2, 4)).reshape(-1)  # 2x2 average pooling
        if key is not None:  # training: drop features at the (traced) rate
            h = eqx.nn.Dropout(rate)(h, key=key)
        return self.out(h)


STATIC = eqx.partition(CNN(jax.random.key(0)), eqx.is_array)[1]  # shared by every trial


def init(key, hp):
    return eqx.partition(CNN(key), eqx.is_array)[0]


def _xent(logits, labels):
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))


def cross_entropy(params, data):
    """The evaluation loss: no dropout."""
    return _xent(jax.vmap(eqx.combine(params, STATIC))(data["x"]), data["y"])


def loss(params, data, hp, key):
    """The training loss, with dropout at the trial's rate and one key per example."""
    model = eqx.combine(params, STATIC)
    keys = jax.random.split(key, data["x"].shape[0])
    return _xent(jax.vmap(lambda x, k: model(x, hp["dropout"], k))(data["x"], keys), data["y"])


def runner(steps=200, chunk_steps=50, data_fn=None):
    x_tr, x_te, y_tr, y_te = digits_split(0)
    return sweep.Runner(init=init, loss=loss, evaluate=cross_entropy,
                        optimizer=lambda hp: optfn.adam(hp["learning_rate"], b1=hp["b1"]),
                        data=data_fn or {"x": x_tr, "y": y_tr}, eval_data={"x": x_te, "y": y_te},
                        steps=steps, chunk_steps=chunk_steps, batch_size=128)


SPACE = sweep.Space({"learning_rate": sweep.log_uniform(1e-3, 1e-1), "b1": sweep.one_minus_log_uniform(0.8, 0.99),
                     "dropout": sweep.uniform(0.0, 0.5)})  # traced: one program for every rate


def main(trials=16, steps=200):
    t0 = time.perf_counter()
    result = runner(steps).run(SPACE, trials, seed=0, halving=3)
    best = result.best()
    model = eqx.combine(result.best_params(), STATIC)
    _, x_te, _, y_te = digits_split(0)
    accuracy = float(jnp.mean(jnp.argmax(jax.vmap(model)(x_te), -1) == y_te))
    print(f"{trials} CNNs in {time.perf_counter() - t0:.1f} s; best: val loss {best['metric']:.4f}, "
          f"test accuracy {accuracy:.3f} with {best['hyperparams']}")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    main(args.trials, args.steps)
