"""Babysit one model: watch the loss and lower the learning rate at a plateau, live.

    python examples/babysitting.py [--chunks 20] [--steps-per-chunk 50]

The optimizer keeps its hyperparameters in its state (``optfn.inject_hyperparams``), so
the training chunk is compiled once; lowering the learning rate is a new value in the
state (``optfn.set_hyperparams``), not a new program. Each chunk of steps runs as one
``jax.lax.scan``; between chunks the script reads the validation loss, and when it has
improved by less than 2% (and the last change is two chunks old) it divides the
learning rate by 10, and it stops once a plateau comes at the smallest rate it allows.
"""

import argparse

import jax
import jax.numpy as jnp

import optfn
from train_digits import accuracy, digits_split, init_mlp, loss_fn


def main(chunks=20, steps_per_chunk=50, lr=0.1, batch=64, min_lr=1e-3, seed=0):
    x_tr, x_te, y_tr, y_te = digits_split(seed)
    x_fit, y_fit, x_val, y_val = x_tr[:1000], y_tr[:1000], x_tr[1000:], y_tr[1000:]
    params = init_mlp(jax.random.key(seed), [64, 128, 10])
    opt = optfn.inject_hyperparams(optfn.sgd)(learning_rate=lr, momentum=0.9)
    state = opt.init(params)

    @jax.jit
    def run_chunk(params, state, key):
        def step(carry, k):
            params, state = carry
            idx = jax.random.randint(k, (batch,), 0, x_fit.shape[0])
            loss, grads = jax.value_and_grad(loss_fn)(params, x_fit[idx], y_fit[idx])
            updates, state = opt.update(grads, state, params)
            return (optfn.apply_updates(params, updates), state), loss

        (params, state), losses = jax.lax.scan(step, (params, state), jax.random.split(key, steps_per_chunk))
        return params, state, jnp.mean(losses)

    print(f"{'step':>5} {'train loss':>10} {'val loss':>9} {'lr':>8}  action")
    key, best, last_change = jax.random.key(seed + 1), float("inf"), 0
    log = []
    for c in range(1, chunks + 1):
        key, sub = jax.random.split(key)
        params, state, train_loss = run_chunk(params, state, sub)
        val_loss = float(loss_fn(params, x_val, y_val))
        lr_now = float(optfn.get_hyperparams(state)["learning_rate"])
        action, plateau = "", val_loss > 0.98 * best and c > last_change + 1
        best = min(best, val_loss)
        if plateau and lr_now / 10 < 0.999 * min_lr:  # lr_now is float32
            action = "plateau at the smallest learning rate: stop"
        elif plateau:
            state = optfn.set_hyperparams(state, learning_rate=lr_now / 10)
            action, last_change = f"plateau: learning rate -> {lr_now / 10:.0e}", c
        log.append({"step": c * steps_per_chunk, "val_loss": val_loss, "learning_rate": lr_now})
        print(f"{c * steps_per_chunk:5d} {float(train_loss):10.4f} {val_loss:9.4f} {lr_now:8.0e}  {action}")
        if action.endswith("stop"):
            break
    print(f"compiled programs: {run_chunk._cache_size()}  test accuracy {accuracy(params, x_te, y_te):.3f}")
    return log, run_chunk._cache_size(), accuracy(params, x_te, y_te)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--steps-per-chunk", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.chunks, args.steps_per_chunk, args.lr, seed=args.seed)
