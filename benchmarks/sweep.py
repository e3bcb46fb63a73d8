"""Training many trials: a Python loop vs hand-written jit(vmap(scan)) vs optfn's runner.

    python benchmarks/sweep.py [--trials 64] [--steps 200]

A 64-128-10 MLP on scikit-learn's digits, batch 128, Adam with per-trial learning rate
and b1, every trial drawing its own batches. Contenders, same trials and same work:
  (A) a Python loop over trials, one jitted optax step per call (optax.inject_hyperparams,
      so the loop compiles once);
  (B) hand-written jit(vmap(lax.scan)) over all trials with optax.inject_hyperparams;
  (C) optfn.sweep.Runner (one chunk of all steps, then one evaluation).
Run times exclude compilation (each is run twice; the second run is timed) and are the
median of --reps runs. Then successive halving (eta=3) against full random search with
the same trials: best validation loss and trial-steps of each.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import optfn
from optfn import sweep
from sklearn.datasets import load_digits


def data():
    d = load_digits()
    x, y = jnp.asarray(d.data / 16.0, jnp.float32), jnp.asarray(d.target, jnp.int32)
    return {"x": x[:1400], "y": y[:1400]}, {"x": x[1400:], "y": y[1400:]}


def init(key, hp=None):
    k1, k2 = jax.random.split(key)
    return [{"w": jax.nn.initializers.he_normal()(k1, (64, 128)), "b": jnp.zeros(128)},
            {"w": jax.nn.initializers.glorot_normal()(k2, (128, 10)), "b": jnp.zeros(10)}]


def loss(params, batch):
    h = jax.nn.relu(batch["x"] @ params[0]["w"] + params[0]["b"])
    logp = jax.nn.log_softmax(h @ params[1]["w"] + params[1]["b"])
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


def timed(fn, reps):
    jax.block_until_ready(fn())  # compile and warm up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    train, val = data()
    n, steps, batch = args.trials, args.steps, 128
    space = sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1e-1), "b1": sweep.one_minus_log_uniform(0.8, 0.99)})
    hps = space.sample(n, seed=0)
    lrs = jnp.asarray([h["learning_rate"] for h in hps], jnp.float32)
    b1s = jnp.asarray([h["b1"] for h in hps], jnp.float32)
    keys = jax.random.split(jax.random.PRNGKey(1), n)
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b1=0.9)

    def set_hp(state, lr, b1):
        return state._replace(hyperparams={**state.hyperparams, "learning_rate": lr, "b1": b1})

    def one_step(params, state, key):
        idx = jax.random.randint(key, (batch,), 0, train["x"].shape[0])
        grads = jax.grad(loss)(params, jax.tree.map(lambda a: a[idx], train))
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    step_a = jax.jit(one_step)

    def run_a():
        out = []
        for i in range(n):
            params = init(keys[i])
            state = set_hp(tx.init(params), lrs[i], b1s[i])
            for t in range(steps):
                params, state = step_a(params, state, jax.random.fold_in(keys[i], t))
            out.append(loss(params, val))
        return jnp.stack(out)

    def trial_b(key, lr, b1):
        params = init(key)
        state = set_hp(tx.init(params), lr, b1)

        def body(carry, t):
            return one_step(*carry, jax.random.fold_in(key, t)), None

        (params, _), _ = jax.lax.scan(body, (params, state), jnp.arange(steps))
        return loss(params, val)

    run_b = jax.jit(jax.vmap(trial_b))
    runner = sweep.Runner(init=init, loss=loss, data=train, evaluate=loss, eval_data=val,
                          optimizer=lambda h: optfn.adam(h["learning_rate"], b1=h["b1"]),
                          steps=steps, chunk_steps=steps, batch_size=batch)

    t0 = time.perf_counter()
    jax.block_until_ready(run_b(keys, lrs, b1s))
    compile_b = time.perf_counter() - t0
    time_b = timed(lambda: run_b(keys, lrs, b1s), args.reps)
    time_a = timed(run_a, 1)
    t0 = time.perf_counter()
    runner.run(space, hps)
    first_c = time.perf_counter() - t0
    time_c = timed(lambda: jnp.asarray([t["metric"] for t in runner.run(space, hps).trials]), args.reps)

    print(f"jax {jax.__version__}, backend {jax.default_backend()}, {jax.device_count()} device(s); "
          f"{n} trials x {steps} steps, MLP 64-128-10, batch {batch}")
    print(f"{'contender':<44}{'run s':>8}{'compile s':>11}")
    print(f"{'(A) Python loop over trials, jitted optax step':<44}{time_a:>8.2f}{'':>11}")
    print(f"{'(B) hand-written jit(vmap(scan)), optax':<44}{time_b:>8.2f}{compile_b - time_b:>11.2f}")
    print(f"{'(C) optfn.sweep.Runner':<44}{time_c:>8.2f}{first_c - time_c:>11.2f}")
    print(f"C/B run time {time_c / time_b:.2f}   A/C (speed-up over the loop) {time_a / time_c:.1f}x")

    # Halving needs evaluations along the way: ten chunks per trial.
    chunked = sweep.Runner(init=init, loss=loss, data=train, evaluate=loss, eval_data=val,
                           optimizer=lambda h: optfn.adam(h["learning_rate"], b1=h["b1"]),
                           steps=steps, chunk_steps=steps // 10, batch_size=batch)
    full = chunked.run(space, hps)
    halved = chunked.run(space, hps, halving=3)
    fb, hb = full.best()["metric"], halved.best()["metric"]
    print(f"\nfull random search: best val loss {fb:.4f}, {full.trial_steps} trial-steps")
    print(f"successive halving: best val loss {hb:.4f}, {halved.trial_steps} trial-steps "
          f"({halved.trial_steps / full.trial_steps:.0%} of full; best {hb / fb - 1:+.1%} vs full)")


if __name__ == "__main__":
    main()
