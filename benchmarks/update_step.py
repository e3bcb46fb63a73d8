"""optfn vs optax: one jitted Adam step (update + apply_updates), and the memory floor.

    python benchmarks/update_step.py [--reps 30]

Cases:
  (a) 42 leaves, ~5.8M float32 parameters (21 weight matrices and their biases);
  (b) 1000 leaves of 64 floats (dispatch- and fusion-bound);
  (c) a real model's tree: a flax nnx stack of 24 transformer blocks (d=128: attention,
      two layer norms, an MLP), 384 leaves.
Contenders: optfn.adam, optfn.flatten(optfn.adam) (the multi-tensor path: one flat
vector per dtype), optax.adam, and the floor. A last table compiles optfn's and optax's
``chain(clip_by_global_norm, scale_by_adam, add_decayed_weights,
scale_by_learning_rate(warmup_cosine_decay))`` on 500 leaves.
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


def tree_c():
    from flax import nnx

    class Block(nnx.Module):
        def __init__(self, d, rngs):
            self.attn = nnx.MultiHeadAttention(4, d, decode=False, rngs=rngs)
            self.norm1, self.norm2 = nnx.LayerNorm(d, rngs=rngs), nnx.LayerNorm(d, rngs=rngs)
            self.up, self.down = nnx.Linear(d, 4 * d, rngs=rngs), nnx.Linear(4 * d, d, rngs=rngs)

    blocks = [Block(128, nnx.Rngs(i)) for i in range(24)]
    return jax.tree.map(lambda x: x, nnx.to_pure_dict(nnx.state(blocks, nnx.Param)))


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
            opt = {"optfn": lambda: optfn.adam(1e-3), "flatten": lambda: optfn.flatten(optfn.adam(1e-3)),
                   "optax": lambda: optax.adam(1e-3)}[kind]()
            self.fn = optax_step(opt) if kind == "optax" else adam_step(opt)
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
    runners = {k: Runner(k, params) for k in ("optfn", "flatten", "optax", "floor")}
    times = interleaved(runners, reps)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in ("optfn", "flatten"):
        med[f"{k}/optax"] = median_ratio(times[k], times["optax"])
        med[f"{k}/floor"] = median_ratio(times[k], times["floor"])
    return med, {k: r.compile_s for k, r in runners.items()}, {k: r.kernels for k, r in runners.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(f"jax {jax.__version__}, optax {optax.__version__}, backend {jax.default_backend()}, "
          f"device {jax.devices()[0].device_kind}; median of {args.reps} interleaved runs")
    header = (f"{'case':<30}{'contender':<10}{'step ms':>9}{'/ optax':>9}{'/ floor':>9}{'compile s':>11}"
              f"{'/ optax':>9}{'kernels':>9}")
    print(header)
    print("-" * len(header))
    cases = (("(a) 42 leaves, 5.8M f32", tree_a), ("(b) 1000 leaves x 64 f32", tree_b),
             ("(c) flax transformer x24", tree_c))
    for name, make in cases:
        params = make()
        n = sum(x.size for x in jax.tree.leaves(params))
        med, comp, kernels = measure(params, args.reps)
        label = f"{name} ({len(jax.tree.leaves(params))} leaves, {n / 1e6:.2f}M)"
        print(label)
        for k in ("optfn", "flatten", "optax", "floor"):
            ratio = f"{med[f'{k}/optax']:>9.2f}" if f"{k}/optax" in med else f"{'':>9}"
            to_floor = f"{med[f'{k}/floor']:>9.2f}" if f"{k}/floor" in med else f"{'':>9}"
            print(f"{'':<30}{k:<10}{med[k] * 1e3:>9.3f}{ratio}{to_floor}{comp[k]:>11.2f}"
                  f"{comp[k] / comp['optax']:>9.2f}{kernels[k]:>9}")
    print()
    print("compile of chain(clip_by_global_norm, scale_by_adam, add_decayed_weights, "
          "scale_by_learning_rate(warmup_cosine_decay)), 500 leaves x 64 f32, median of 3:")
    chain_compile()


def chain_compile():
    params = {f"p{i:04d}": jnp.full((64,), 0.01, jnp.float32) for i in range(500)}
    grads = jax.tree.map(lambda x: jnp.full_like(x, 0.1), params)

    def seconds(lib, schedule):
        opt = lib.chain(lib.clip_by_global_norm(1.0), lib.scale_by_adam(), lib.add_decayed_weights(1e-4),
                        lib.scale_by_learning_rate(schedule(0.0, 1e-3, 100, 1000)))

        def step(p, s, g):
            u, s = opt.update(g, s, p)
            return lib.apply_updates(p, u), s

        state, out = opt.init(params), []
        for _ in range(3):
            jax.clear_caches()  # compile from scratch each time
            t0 = time.perf_counter()
            jax.jit(step).lower(params, state, grads).compile()
            out.append(time.perf_counter() - t0)
        return statistics.median(out)

    ours, theirs = seconds(optfn, optfn.warmup_cosine_decay), seconds(optax, optax.warmup_cosine_decay_schedule)
    print(f"  optfn {ours:.2f} s, optax {theirs:.2f} s, optfn / optax {ours / theirs:.2f}")

if __name__ == "__main__":
    main()
