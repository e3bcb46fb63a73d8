"""Train a small MLP on scikit-learn's digits with optfn.adam.

    python examples/train_digits.py [--steps 300] [--lr 3e-3]

Prints the training loss as it goes and the final train and test accuracy.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import optfn


def init_mlp(key, sizes):
    he = jax.nn.initializers.he_normal()
    keys = jax.random.split(key, len(sizes) - 1)
    return [{"w": he(k, (m, n)), "b": jnp.zeros(n)} for k, m, n in zip(keys, sizes[:-1], sizes[1:])]


def forward(params, x):
    for layer in params[:-1]:
        x = jax.nn.relu(x @ layer["w"] + layer["b"])
    return x @ params[-1]["w"] + params[-1]["b"]


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(forward(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def accuracy(params, x, y):
    return float(jnp.mean(jnp.argmax(forward(params, x), axis=1) == y))


def digits_split(seed=0):
    """scikit-learn's 8x8 digits scaled to [0, 1]: ``x_train, x_test, y_train, y_test``."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    split = train_test_split(x, digits.target.astype(np.int32), test_size=0.25, random_state=seed)
    return tuple(map(jnp.asarray, split))


def main(steps=300, lr=3e-3, batch=128, seed=0):
    x_tr, x_te, y_tr, y_te = digits_split(seed)

    params = init_mlp(jax.random.key(seed), [64, 128, 10])
    opt = optfn.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state, key):
        idx = jax.random.choice(key, x_tr.shape[0], (batch,), replace=False)
        loss, grads = jax.value_and_grad(loss_fn)(params, x_tr[idx], y_tr[idx])
        updates, state = opt.update(grads, state, params)
        return optfn.apply_updates(params, updates), state, loss

    key = jax.random.key(seed + 1)
    for t in range(1, steps + 1):
        key, sub = jax.random.split(key)
        params, state, loss = step(params, state, sub)
        if t % 50 == 0 or t == 1:
            print(f"step {t:4d}  loss {float(loss):.4f}")
    train_acc, test_acc = accuracy(params, x_tr, y_tr), accuracy(params, x_te, y_te)
    print(f"train accuracy {train_acc:.3f}  test accuracy {test_acc:.3f}")
    return train_acc, test_acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.steps, args.lr, seed=args.seed)
