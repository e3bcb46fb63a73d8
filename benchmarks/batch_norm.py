"""optfn.batch_norm vs flax.linen.BatchNorm: forward, and forward + backward, training mode.

    python benchmarks/batch_norm.py [--reps 200] [--shape 1024 512]

Every contender updates its running statistics. The backward pass differentiates
``sum(y * w)`` (a fixed random ``w``) with respect to the input, scale and bias. Times
are medians of interleaved runs in one process; ratios are medians of per-round ratios
against flax's fast variance (its default, ``use_fast_variance=True``).
"""

import argparse
import statistics

import flax.linen as nn
import jax
import jax.numpy as jnp

import optfn
from _timing import interleaved, median_ratio


def contenders(x):
    f = x.shape[-1]
    params, state = optfn.batch_norm_init(f)
    out = {}
    for variance in ("two_pass", "fast"):
        def fwd(params, state, x, variance=variance):
            return optfn.batch_norm(params, state, x, training=True, variance=variance)

        out[f"optfn {variance}"] = (fwd, params, state)
    for fast in (True, False):
        layer = nn.BatchNorm(use_running_average=False, momentum=0.99, epsilon=1e-5, use_fast_variance=fast)
        variables = layer.init(jax.random.PRNGKey(0), x)

        def fwd(params, stats, x, layer=layer):
            y, updates = layer.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
            return y, updates["batch_stats"]

        out["flax fast" if fast else "flax two-pass"] = (fwd, variables["params"], variables["batch_stats"])
    return out


def runners(x, w):
    made = {}
    for name, (fwd, params, state) in contenders(x).items():
        forward = jax.jit(fwd)

        def loss(params, x, state, fwd=fwd):
            y, new_state = fwd(params, state, x)
            return jnp.sum(y * w), new_state

        both = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
        made[name] = (lambda f=forward, p=params, s=state: jax.block_until_ready(f(p, s, x)),
                      lambda f=both, p=params, s=state: jax.block_until_ready(f(p, x, s)))
    return made


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--shape", type=int, nargs=2, default=(1024, 512))
    args = parser.parse_args()
    x = 3.0 + jax.random.normal(jax.random.PRNGKey(0), tuple(args.shape))
    w = jax.random.normal(jax.random.PRNGKey(1), tuple(args.shape))
    print(f"jax {jax.__version__}, backend {jax.default_backend()}, input {tuple(args.shape)} float32; "
          f"medians of {args.reps} interleaved runs")
    made = runners(x, w)
    print(f"{'':<16}{'fwd us':>10}{'fwd ratio':>11}{'fwd+bwd us':>12}{'fwd+bwd ratio':>15}")
    times = [interleaved({n: r[i] for n, r in made.items()}, args.reps) for i in (0, 1)]
    for name in made:
        fwd, both = times[0][name], times[1][name]
        print(f"{name:<16}{statistics.median(fwd) * 1e6:>10.0f}{median_ratio(fwd, times[0]['flax fast']):>11.2f}"
              f"{statistics.median(both) * 1e6:>12.0f}{median_ratio(both, times[1]['flax fast']):>15.2f}")


if __name__ == "__main__":
    main()
