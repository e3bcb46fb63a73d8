"""256 MLPs on scikit-learn's digits in one program: random search, zoom, successive halving.

    python examples/sweep_digits.py [--trials 256] [--steps 300] [--out sweep_digits.png]

Round 1 samples the learning rate log-uniformly in [1e-4, 1], Adam's b1 as
``1 - 10**U(-3, -1)`` and the hidden width from {32, 64, 128}, and trains every trial
with successive halving (the best third continues at each rung). Round 2 zooms in
around round 1's best 16 trials and runs again. Then the best 4 of round 2 are retrained
with 8 fresh seeds each and ranked by their mean. Each round prints its best trials; the
plot of final validation loss against each hyperparameter is saved to ``--out``.
"""

import argparse
import time

import jax
import jax.numpy as jnp

import optfn
from optfn import sweep
from train_digits import digits_split


def init(key, hp):
    k1, k2 = jax.random.split(key)
    return [{"w": jax.nn.initializers.he_normal()(k1, (64, hp["hidden"])), "b": jnp.zeros(hp["hidden"])},
            {"w": jax.nn.initializers.glorot_normal()(k2, (hp["hidden"], 10)), "b": jnp.zeros(10)}]


def cross_entropy(params, batch):
    h = jax.nn.relu(batch["x"] @ params[0]["w"] + params[0]["b"])
    logp = jax.nn.log_softmax(h @ params[1]["w"] + params[1]["b"])
    return -jnp.mean(jnp.take_along_axis(logp, batch["y"][:, None], axis=1))


def show(result, title, k=5):
    print(f"\n{title}: {len(result)} trials, {result.trial_steps} trial-steps")
    print(f"{'rank':>4} {'val loss':>9} {'learning_rate':>14} {'b1':>8} {'hidden':>6} {'steps':>6}")
    for rank, t in enumerate(result.top(k), 1):
        h = t["hyperparams"]
        print(f"{rank:>4} {t['metric']:>9.4f} {h['learning_rate']:>14.3e} {h['b1']:>8.4f} {h['hidden']:>6} {t['steps']:>6}")


def main(trials=256, steps=300, seed=0, out="sweep_digits.png"):
    x_tr, x_val, y_tr, y_val = digits_split(seed)
    runner = sweep.Runner(
        init=init, loss=cross_entropy, data={"x": x_tr, "y": y_tr},
        optimizer=lambda h: optfn.adam(h["learning_rate"], b1=h["b1"]),
        evaluate=cross_entropy, eval_data={"x": x_val, "y": y_val},
        steps=steps, chunk_steps=steps // 6, batch_size=128,
    )
    space = sweep.Space({
        "learning_rate": sweep.log_uniform(1e-4, 1.0),
        "b1": sweep.one_minus_log_uniform(0.9, 0.999),
        "hidden": sweep.choice(32, 64, 128),
    })
    t0 = time.perf_counter()
    coarse = runner.run(space, trials, seed=seed, halving=3)
    show(coarse, f"round 1 (coarse), {time.perf_counter() - t0:.1f} s")
    fine_space = space.zoom(coarse, top_k=16)
    lr = fine_space.dimensions["learning_rate"]
    print(f"zoomed learning rate range: [{lr.low:.2e}, {lr.high:.2e}]")
    t0 = time.perf_counter()
    fine = runner.run(fine_space, trials, seed=seed + 1, halving=3)
    show(fine, f"round 2 (zoomed), {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    confirmed = runner.confirm(fine, top_k=4, seeds=8)  # the best 4, retrained with 8 fresh seeds each
    print(f"\nconfirmed with 8 fresh seeds ({time.perf_counter() - t0:.1f} s):")
    for t in confirmed.top(4):
        print(f"  val loss {t['metric']:.4f} +- {t['metric_std']:.4f}  {t['hyperparams']}")
    best = confirmed.best()
    print(f"\nbest: validation loss {best['metric']:.4f} (mean of 8 seeds) with {best['hyperparams']}; "
          f"compiled programs: {runner.compile_counts}")
    if out:
        try:
            coarse.plot(out, space=space)
            print(f"plot saved to {out}")
        except ImportError as e:
            print(f"no plot: {e}")
    return coarse, fine


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=256)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="sweep_digits.png")
    args = parser.parse_args()
    main(args.trials, args.steps, args.seed, args.out)
