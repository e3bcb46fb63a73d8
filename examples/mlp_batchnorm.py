"""An MLP with batch norm on scikit-learn's digits, trained with optfn.adam.

    python examples/mlp_batchnorm.py [--steps 300] [--lr 3e-3]

Hidden layers are ``x @ W`` (no bias: batch norm's beta takes its place), then
``optfn.batch_norm``, then ReLU; the output layer is a softmax with cross-entropy.
Weights use He initialisation before ReLU and Xavier (Glorot) for the output layer,
both from ``jax.nn.initializers``. Training normalises with each mini-batch's
statistics and updates the running averages; test accuracy uses the running averages.
"""

import argparse

import jax
import jax.numpy as jnp

import optfn
from train_digits import digits_split


def init(key, sizes):
    """``(params, bn_state)``: weights and batch-norm params are learned, the statistics are not."""
    keys = jax.random.split(key, len(sizes) - 1)
    he, xavier = jax.nn.initializers.he_normal(), jax.nn.initializers.glorot_normal()
    hidden, bn, stats = [], [], []
    for k, m, n in zip(keys[:-1], sizes[:-2], sizes[1:-1]):
        p, s = optfn.batch_norm_init(n)
        hidden.append(he(k, (m, n)))
        bn.append(p)
        stats.append(s)
    out = {"w": xavier(keys[-1], (sizes[-2], sizes[-1])), "b": jnp.zeros(sizes[-1])}
    return {"hidden": hidden, "bn": bn, "out": out}, stats


def forward(params, stats, x, training):
    new_stats = []
    for w, p, s in zip(params["hidden"], params["bn"], stats):
        h, s = optfn.batch_norm(p, s, x @ w, training=training, momentum=0.9)
        x = jax.nn.relu(h)
        new_stats.append(s)
    return x @ params["out"]["w"] + params["out"]["b"], new_stats


def cross_entropy(params, stats, x, y):
    logits, stats = forward(params, stats, x, training=True)
    logp = jax.nn.log_softmax(logits)
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1)), stats


def accuracy(params, stats, x, y):
    logits, _ = forward(params, stats, x, training=False)  # running averages
    return float(jnp.mean(jnp.argmax(logits, axis=1) == y))


def main(steps=300, lr=3e-3, batch=128, seed=0):
    x_tr, x_te, y_tr, y_te = digits_split(seed)
    params, stats = init(jax.random.key(seed), [64, 128, 64, 10])
    opt = optfn.adam(lr)
    opt_state = opt.init(params)

    @jax.jit
    def step(params, stats, opt_state, key):
        idx = jax.random.choice(key, x_tr.shape[0], (batch,), replace=False)
        (loss, stats), grads = jax.value_and_grad(cross_entropy, has_aux=True)(params, stats, x_tr[idx], y_tr[idx])
        updates, opt_state = opt.update(grads, opt_state, params)
        return optfn.apply_updates(params, updates), stats, opt_state, loss

    key = jax.random.key(seed + 1)
    for t in range(1, steps + 1):
        key, sub = jax.random.split(key)
        params, stats, opt_state, loss = step(params, stats, opt_state, sub)
        if t % 50 == 0 or t == 1:
            print(f"step {t:4d}  loss {float(loss):.4f}")
    train_acc, test_acc = accuracy(params, stats, x_tr, y_tr), accuracy(params, stats, x_te, y_te)
    print(f"train accuracy {train_acc:.3f}  test accuracy {test_acc:.3f}")
    return train_acc, test_acc


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.steps, args.lr, seed=args.seed)
