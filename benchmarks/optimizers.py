"""Every optimizer at its own tuned learning rate, in one run; and each against optax's.

Two tasks: a small CNN on scikit-learn's digits (8x8 images, 10 classes) and a one-layer
transformer that answers, at each of 8 positions, the sum modulo 16 of the token there
and the token at the mirrored position. For each optimizer,
one ``jit(vmap(scan))`` program trains 16 trials: 8 learning rates (log-spaced over two
decades around the optimizer's usual scale) times 2 values of its second hyperparameter
(``b1``, or the momentum), every trial on the same batches from the same start.

Reported per task and optimizer: the best trial's final validation loss (Schedule-Free at
its averaged params), its hyperparameters, the steps its training loss (an average over
25 steps) took to reach AdamW's best final one, and the sweep's wall time, compilation
included, as a ratio to AdamW's. Then, for the optimizers optax has, one training step of
the CNN with optfn's and with optax's: compile time and the median step time, interleaved.

Run: ``python3 benchmarks/optimizers.py`` (``--steps`` to change the 300 steps). On CPU it
splits nothing: one device trains all trials.
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import optfn

from _timing import interleaved, median_ratio

# name -> (lr centre, second hyperparameter's name, its two values, factory(lr, second))
OPTIMIZERS = {
    "adamw": (1e-2, "b1", (0.9, 0.95), lambda lr, b: optfn.adamw(lr, b1=b, weight_decay=1e-4)),
    "adam": (1e-2, "b1", (0.9, 0.95), lambda lr, b: optfn.adam(lr, b1=b)),
    "momentum": (0.1, "momentum", (0.9, 0.95), lambda lr, b: optfn.sgd(lr, momentum=b)),
    "nesterov": (0.1, "momentum", (0.9, 0.95), lambda lr, b: optfn.sgd(lr, momentum=b, nesterov=True)),
    "lion": (3e-4, "b1", (0.9, 0.95), lambda lr, b: optfn.lion(lr, b1=b, weight_decay=1e-4)),
    "muon": (0.02, "beta", (0.9, 0.95), lambda lr, b: optfn.muon(lr, beta=b, adam_learning_rate=lr / 10)),
    "schedule_free_adamw": (1e-2, "b1", (0.9, 0.95), lambda lr, b: optfn.schedule_free_adamw(lr, b1=b)),
    "prodigy": (1.0, "b1", (0.9, 0.95), lambda lr, b: optfn.prodigy(lr, betas=(b, 0.999))),
    "soap": (3e-3, "b1", (0.9, 0.95), lambda lr, b: optfn.soap(lr, b1=b, weight_decay=1e-4)),
    "adopt": (3e-3, "b1", (0.9, 0.95), lambda lr, b: optfn.adopt(lr, b1=b)),
    "ademamix": (1e-2, "b1", (0.9, 0.95), lambda lr, b: optfn.ademamix(lr, b1=b)),
    "cautious_adamw": (1e-2, "b1", (0.9, 0.95),
                       lambda lr, b: optfn.cautious(optfn.adamw(lr, b1=b, weight_decay=1e-4))),
}
# optax's counterparts, for the step-time comparison
OPTAX = {
    "adamw": lambda ox: ox.adamw(3e-3, weight_decay=1e-4), "adam": lambda ox: ox.adam(3e-3),
    "momentum": lambda ox: ox.sgd(0.1, momentum=0.9), "lion": lambda ox: ox.lion(3e-4, weight_decay=1e-4),
    "muon": lambda ox: ox.contrib.muon(0.02), "schedule_free_adamw": lambda ox: ox.contrib.schedule_free_adamw(3e-3),
    "prodigy": lambda ox: ox.contrib.prodigy(), "adopt": lambda ox: ox.contrib.adopt(3e-3),
    "ademamix": lambda ox: ox.contrib.ademamix(3e-3),
}
BATCH = 64


# -- the tasks: init(key) -> params, loss(params, batch) -> scalar, data, val ---------------

def digits_cnn():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = jnp.asarray(d.images[..., None] / 16.0, jnp.float32)
    y = jnp.asarray(d.target)
    perm = np.random.default_rng(0).permutation(len(y))
    train, val = perm[:1400], perm[1400:]

    def init(key):
        k1, k2, k3 = jax.random.split(key, 3)
        return {"c1": jax.random.normal(k1, (3, 3, 1, 8)) / 3, "c2": jax.random.normal(k2, (3, 3, 8, 16)) / 8.5,
                "b1": jnp.zeros(8), "b2": jnp.zeros(16), "w": jax.random.normal(k3, (16 * 16, 10)) / 16,
                "b": jnp.zeros(10)}

    def conv(x, k):  # 3x3 "SAME" as patches times a matrix: under vmap a batched matmul, quick to compile
        patches = jax.lax.conv_general_dilated_patches(x, (3, 3), (1, 1), "SAME",
                                                       dimension_numbers=("NHWC", "HWIO", "NHWC"))
        # patches' features are (channel, 3, 3); the kernel's rows follow the same order
        return patches @ jnp.transpose(k, (2, 0, 1, 3)).reshape(-1, k.shape[-1])

    def logits(p, x):
        h = jax.nn.relu(conv(x, p["c1"]) + p["b1"])
        h = jax.nn.relu(conv(h, p["c2"]) + p["b2"])
        h = jax.lax.reduce_window(h, 0.0, jax.lax.add, (1, 2, 2, 1), (1, 2, 2, 1), "VALID") / 4
        return h.reshape(h.shape[0], -1) @ p["w"] + p["b"]

    def loss(p, batch):
        out = jax.nn.log_softmax(logits(p, batch["x"]))
        return -jnp.mean(jnp.take_along_axis(out, batch["y"][:, None], 1))

    return init, loss, {"x": x[train], "y": y[train]}, {"x": x[val], "y": y[val]}


def mirror_sum_transformer(n=2048, length=8, vocab=16, d=16, heads=2):
    """Token ``i`` of the answer is ``(x_i + x_{L-1-i}) mod V``: attention must find the
    mirrored position and the MLP add modulo ``V``."""
    rng = np.random.default_rng(1)
    seqs = jnp.asarray(rng.integers(0, vocab, (n, length)))
    data = {"x": seqs, "y": (seqs + seqs[:, ::-1]) % vocab}
    train, val = jax.tree.map(lambda a: a[:1536], data), jax.tree.map(lambda a: a[1536:], data)

    def init(key):
        ks = jax.random.split(key, 7)
        s = 1 / np.sqrt(d)
        return {"emb": jax.random.normal(ks[0], (vocab, d)) * s, "pos": jax.random.normal(ks[1], (length, d)) * s,
                "qkv": jax.random.normal(ks[2], (d, 3 * d)) * s, "o": jax.random.normal(ks[3], (d, d)) * s,
                "m1": jax.random.normal(ks[4], (d, 4 * d)) * s, "m2": jax.random.normal(ks[5], (4 * d, d)) * s / 2,
                "out": jax.random.normal(ks[6], (d, vocab)) * s, "g1": jnp.ones(d), "g2": jnp.ones(d)}

    def norm(h, g):
        return g * h / jnp.sqrt(jnp.mean(h * h, -1, keepdims=True) + 1e-6)

    def logits(p, x):
        h = p["emb"][x] + p["pos"]
        q, k, v = jnp.split(norm(h, p["g1"]) @ p["qkv"], 3, -1)
        split = lambda t: t.reshape(*t.shape[:-1], heads, d // heads)  # noqa: E731
        att = jax.nn.softmax(jnp.einsum("bqhd,bkhd->bhqk", split(q), split(k)) / np.sqrt(d // heads), -1)
        h = h + jnp.einsum("bhqk,bkhd->bqhd", att, split(v)).reshape(h.shape) @ p["o"]
        h = h + jax.nn.gelu(norm(h, p["g2"]) @ p["m1"]) @ p["m2"]
        return h @ p["out"]

    def loss(p, batch):
        out = jax.nn.log_softmax(logits(p, batch["x"]))
        return -jnp.mean(jnp.take_along_axis(out, batch["y"][..., None], -1))

    return init, loss, train, val


# -- one optimizer's sweep: 16 trials in one program -----------------------------------------

def sweep(task, name, steps):
    init, loss, train, val = task
    centre, _, seconds, make = OPTIMIZERS[name]
    lrs = centre * 10.0 ** np.linspace(-1, 1, 8)
    grid = [(lr, b) for b in seconds for lr in lrs]
    hp = jnp.asarray(grid, jnp.float32)
    n = len(train["y"])
    order = jax.random.randint(jax.random.PRNGKey(2), (steps, BATCH), 0, n)  # the same batches for all

    def one(h):
        opt = make(h[0], h[1])
        p0 = init(jax.random.PRNGKey(0))

        def body(carry, idx):
            p, s = carry
            batch = jax.tree.map(lambda a: a[idx], train)
            value, g = jax.value_and_grad(loss)(p, batch)
            u, s = opt.update(g, s, p)
            return (optfn.apply_updates(p, u), s), value

        (p, s), curve = jax.lax.scan(body, (p0, opt.init(p0)), order)
        if any(isinstance(x, optfn.ScheduleFreeState) for x in jax.tree.leaves(
                s, is_leaf=lambda x: isinstance(x, optfn.ScheduleFreeState))):
            p = optfn.schedule_free_eval_params(s, p)  # judged at the average, as a sweep judges it
        return loss(p, val), curve

    t0 = time.perf_counter()
    final, curves = jax.block_until_ready(jax.jit(jax.vmap(one))(hp))
    wall = time.perf_counter() - t0
    final = np.where(np.isfinite(final), np.asarray(final), np.inf)
    smooth = np.asarray([np.convolve(c, np.ones(25) / 25, "valid") for c in np.asarray(curves)])
    return {"grid": grid, "final": final, "smooth": smooth, "wall": wall}


def steps_to(smooth, target):
    hit = np.nonzero(smooth <= target)[0]
    return int(hit[0]) + 25 if hit.size else None


def sweep_table(task_name, task, steps):
    out = {name: sweep(task, name, steps) for name in OPTIMIZERS}
    base = out["adamw"]
    target = float(np.min(base["smooth"][:, -1]))
    print(f"\n{task_name}: 16 trials per optimizer, {steps} steps, batch {BATCH}; target = AdamW's best final "
          f"training loss {target:.4f}")
    print(f"| optimizer | best val loss | its lr | its {'2nd'} | steps to target | sweep wall s | vs AdamW |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in out.items():
        i = int(np.argmin(r["final"]))
        reach = [steps_to(s, target) for s in r["smooth"]]
        reach = min((x for x in reach if x is not None), default=None)
        lr, b = r["grid"][i]
        print(f"| {name} | {r['final'][i]:.4f} | {lr:.3g} | {b:g} | {reach if reach else '-'} | "
              f"{r['wall']:.2f} | {r['wall'] / base['wall']:.2f} |")


def step_table(task, reps):
    import optax

    init, loss, train, _ = task
    params = init(jax.random.PRNGKey(0))
    batch = jax.tree.map(lambda a: a[:BATCH], train)
    print("\none CNN training step, optfn vs optax (compile s; median step ms over interleaved rounds)")
    print("| optimizer | optfn compile | optax compile | optfn step | optax step | step ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, make_optax in OPTAX.items():
        centre, _, (b, _), make = OPTIMIZERS[name]  # optax's defaults but the learning rate
        pair = {"optfn": make(centre, b) if name != "prodigy" else optfn.prodigy(),
                "optax": make_optax(optax)}
        compiled, states, compile_s = {}, {}, {}
        for side, opt in pair.items():
            def step(p, s, opt=opt):
                g = jax.grad(loss)(p, batch)
                u, s = opt.update(g, s, p)
                return optfn.apply_updates(p, u), s

            t0 = time.perf_counter()
            with jax.numpy_dtype_promotion("standard"):
                compiled[side] = jax.jit(step).lower(params, opt.init(params)).compile()
            compile_s[side] = time.perf_counter() - t0
            states[side] = (params, opt.init(params))

        def runner(side):
            def run():
                jax.block_until_ready(compiled[side](*states[side]))
            return run

        times = interleaved({s: runner(s) for s in pair}, reps)
        print(f"| {name} | {compile_s['optfn']:.2f} | {compile_s['optax']:.2f} | "
              f"{1e3 * statistics.median(times['optfn']):.2f} | {1e3 * statistics.median(times['optax']):.2f} | "
              f"{median_ratio(times['optfn'], times['optax']):.2f} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--part", choices=["cnn", "transformer", "steps", "all"], default="all",
                        help="one table only (on a CPU the whole run takes tens of minutes)")
    args = parser.parse_args()
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}: {len(jax.devices())} device(s)")
    cnn = digits_cnn()
    if args.part in ("cnn", "all"):
        sweep_table("digits CNN", cnn, args.steps)
    if args.part in ("transformer", "all"):
        sweep_table("mirror-sum transformer", mirror_sum_transformer(), args.steps)
    if args.part in ("steps", "all"):
        step_table(cnn, args.reps)


if __name__ == "__main__":
    main()
