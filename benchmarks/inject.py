"""Hyperparameters in the state: optfn.inject_hyperparams vs optax.inject_hyperparams.

    python benchmarks/inject.py [--reps 50]

Prints three tables, every figure measured in this run:
  1. one jitted Adam step (update + apply, params and state donated) on 42 leaves /
     5.8M float32 parameters, for plain and injected Adam from both libraries, as
     medians and median per-round ratios;
  2. the cost of a new learning rate mid-training: optfn sets it in the state and
     reuses the compiled step; plain Adam (either library) must be rebuilt and
     recompiled;
  3. how far injected Adam drifts from plain Adam over 1000 steps of a small
     least-squares problem (max |difference| of the parameters).
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import optfn
from _timing import interleaved, median_ratio


def big_tree():
    shapes = [(512, 512)] * 20 + [(1024, 512)]
    return {f"layer{i:02d}": {"w": jnp.full((m, n), 0.01, jnp.float32), "b": jnp.zeros(n)} for i, (m, n) in enumerate(shapes)}


def make_step(opt, apply_updates):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


class Runner:
    def __init__(self, opt, apply_updates, params):
        self.grads = jax.tree.map(lambda x: jnp.full_like(x, 0.1), params)
        self.fn = make_step(opt, apply_updates)
        params = jax.tree.map(jnp.copy, params)
        self.args = (params, opt.init(params))

    def __call__(self):
        self.args = jax.block_until_ready(self.fn(*self.args, self.grads))


def contenders(lr=1e-3):
    return {
        "optfn.adam": (optfn.adam(lr), optfn.apply_updates),
        "optfn inject": (optfn.inject_hyperparams(optfn.adam)(learning_rate=lr), optfn.apply_updates),
        "optax.adam": (optax.adam(lr), optax.apply_updates),
        "optax inject": (optax.inject_hyperparams(optax.adam)(learning_rate=lr), optax.apply_updates),
    }


def step_times(reps):
    params = big_tree()
    runners = {name: Runner(opt, apply, params) for name, (opt, apply) in contenders().items()}
    times = interleaved(runners, reps)
    print(f"{'step (42 leaves, 5.8M f32)':<30}{'median ms':>10}")
    for name, t in times.items():
        print(f"{name:<30}{statistics.median(t) * 1e3:>10.3f}")
    for a, b in (("optfn inject", "optfn.adam"), ("optax inject", "optax.adam"), ("optfn inject", "optax inject")):
        print(f"{a + ' / ' + b:<30}{median_ratio(times[a], times[b]):>10.3f}")


def new_learning_rate_cost(reps):
    params = big_tree()
    grads = jax.tree.map(lambda x: jnp.full_like(x, 0.1), params)
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=1e-3)
    step = make_step(opt, optfn.apply_updates)
    args = (jax.tree.map(jnp.copy, params), opt.init(params))
    args = jax.block_until_ready(step(*args, grads))
    inject_s, rebuild_s = [], {"optfn.adam": [], "optax.adam": []}
    for i in range(reps):
        lr = 1e-3 * 0.9 ** (i + 1)
        t0 = time.perf_counter()
        args = jax.block_until_ready(step(args[0], optfn.set_hyperparams(args[1], learning_rate=lr), grads))
        inject_s.append(time.perf_counter() - t0)
        for name, (make, apply) in (("optfn.adam", (optfn.adam, optfn.apply_updates)),
                                    ("optax.adam", (optax.adam, optax.apply_updates))):
            p = jax.tree.map(jnp.copy, params)
            plain = make(lr)
            t0 = time.perf_counter()
            jax.block_until_ready(make_step(plain, apply)(p, plain.init(p), grads))
            rebuild_s[name].append(time.perf_counter() - t0)
    print(f"\n{'new learning rate + one step':<30}{'median ms':>10}{'compiles':>10}")
    print(f"{'optfn set_hyperparams':<30}{statistics.median(inject_s) * 1e3:>10.2f}{step._cache_size():>10}")
    for name, t in rebuild_s.items():
        print(f"{name + ' rebuilt':<30}{statistics.median(t) * 1e3:>10.2f}{reps:>10}")
    print(f"{'rebuilt optax / optfn set':<30}{median_ratio(rebuild_s['optax.adam'], inject_s):>10.1f}")


def drift(steps=1000):
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 5))
    y = x @ jnp.arange(1.0, 6.0)
    loss = lambda w: jnp.mean((x @ w - y) ** 2)  # noqa: E731

    def train(opt, apply):
        def body(carry, _):
            w, s = carry
            u, s = opt.update(jax.grad(loss)(w), s, w)
            return (apply(w, u), s), None

        w = jnp.zeros(5)
        return jax.jit(lambda: jax.lax.scan(body, (w, opt.init(w)), length=steps)[0][0])()

    c = contenders(1e-2)
    print(f"\n{'drift from plain Adam, ' + str(steps) + ' steps':<40}{'max |dw|':>10}")
    for lib in ("optfn", "optax"):
        plain, injected = train(*c[f"{lib}.adam"]), train(*c[f"{lib} inject"])
        print(f"{lib + ' inject':<40}{float(jnp.max(jnp.abs(plain - injected))):>10.2e}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, optax {optax.__version__}, backend {jax.default_backend()}; "
          f"medians of {args.reps} interleaved runs\n")
    step_times(args.reps)
    new_learning_rate_cost(min(args.reps, 10))
    drift()


if __name__ == "__main__":
    main()
