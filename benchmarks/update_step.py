"""optfn vs optax: one jitted Adam step (update + apply_updates), and the memory floor.

    python benchmarks/update_step.py [--reps 30]

Cases:
  (a) 42 leaves, ~5.8M float32 parameters (21 weight matrices and their biases);
  (b) 1000 leaves of 64 floats (dispatch- and fusion-bound).
The floor is one fused kernel that reads 4 arrays and writes 3 over the same number
of bytes (params, gradient, two moments in; params, two moments out): no Adam step
can move less memory. The Adam steps donate params and state and run in place.
The kernel counts printed are the fusions in each compiled program.
Times are medians over --reps runs, measured interleaved in the same process.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import optax

import optfn
from _timing import interleaved, median_ratio


def tree_a():
    shapes = [(512, 512)] * 20 + [(1024, 512)]
    leaves = {}
    for i, (m, n) in enumerate(shapes):
        leaves[f"layer{i:02d}"] = {"w": jnp.full((m, n), 0.01, jnp.float32), "b": jnp.zeros(n)}
    return leaves


def tree_b():
    return {f"p{i:04d}": jnp.full((64,), 0.01, jnp.float32) for i in range(1000)}


def adam_step(opt):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optfn.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def optax_step(opt):
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return jax.jit(step, donate_argnums=(0, 1))


def _floor(p, g, m, v):
    # Reads 4 arrays and writes 3, in place. XLA:CPU has no sibling multi-output fusion,
    # so it emits one kernel per output (reading g three times: 6 reads, 3 writes); a
    # single stacked output would be one kernel but allocates and runs single-threaded,
    # which is slower. This is the fastest read-4-write-3 program XLA:CPU makes.
    return p - 1e-3 * g, 0.9 * m + g, 0.999 * v + g


floor_kernel = jax.jit(_floor, donate_argnums=(0, 2, 3))


def count_fusions(compiled) -> int:
    entry = compiled.as_text().split("ENTRY", 1)[1]
    return entry.count(" fusion(")


class Runner:
    """Holds one contender's live buffers and steps them once per call."""

    def __init__(self, kind, params):
        grads = jax.tree.map(lambda x: jnp.full_like(x, 0.1), params)
        self.grads = grads
        if kind == "floor":
            n = sum(x.size for x in jax.tree.leaves(params))
            self.fn = floor_kernel
            self.args = [jnp.zeros(n) for _ in range(3)]
            self.g = jnp.full((n,), 0.1)
            t0 = time.perf_counter()
            compiled = self.fn.lower(self.args[0], self.g, self.args[1], self.args[2]).compile()
            self.compile_s = time.perf_counter() - t0
            self.kernels = count_fusions(compiled)
        else:
            opt = optfn.adam(1e-3) if kind == "optfn" else optax.adam(1e-3)
            self.fn = adam_step(opt) if kind == "optfn" else optax_step(opt)
            params = jax.tree.map(jnp.copy, params)
            self.args = [params, opt.init(params)]
            t0 = time.perf_counter()
            compiled = self.fn.lower(*self.args, grads).compile()
            self.compile_s = time.perf_counter() - t0
            self.kernels = count_fusions(compiled)
        self.kind = kind

    def __call__(self):
        if self.kind == "floor":
            p, m, v = self.args
            out = self.fn(p, self.g, m, v)
        else:
            out = self.fn(*self.args, self.grads)
        jax.block_until_ready(out)
        self.args = list(out)


def measure(params, reps):
    runners = {k: Runner(k, params) for k in ("optfn", "optax", "floor")}
    times = interleaved(runners, reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    med["optfn/optax"] = median_ratio(times["optfn"], times["optax"])
    med["optfn/floor"] = median_ratio(times["optfn"], times["floor"])
    return med, {k: r.compile_s for k, r in runners.items()}, {k: r.kernels for k, r in runners.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, optax {optax.__version__}, backend {jax.default_backend()}, "
          f"device {jax.devices()[0].device_kind}; median of {args.reps} interleaved runs")
    header = (f"{'case':<28}{'optfn ms':>10}{'optax ms':>10}{'floor ms':>10}"
              f"{'optfn/optax':>13}{'optfn/floor':>13}{'compile optfn s':>17}{'compile optax s':>17}")
    print(header)
    print("-" * len(header))
    for name, params in (("(a) 42 leaves, 5.8M f32", tree_a()), ("(b) 1000 leaves x 64 f32", tree_b())):
        n = sum(x.size for x in jax.tree.leaves(params))
        med, comp, kernels = measure(params, args.reps)
        print(f"{name:<28}{med['optfn'] * 1e3:>10.3f}{med['optax'] * 1e3:>10.3f}{med['floor'] * 1e3:>10.3f}"
              f"{med['optfn/optax']:>13.3f}{med['optfn/floor']:>13.3f}"
              f"{comp['optfn']:>17.2f}{comp['optax']:>17.2f}")
        print(f"{'':<28}kernels: optfn {kernels['optfn']}, optax {kernels['optax']}, floor {kernels['floor']}"
              f" ({len(jax.tree.leaves(params))} leaves, {n:,} params)")


if __name__ == "__main__":
    main()
