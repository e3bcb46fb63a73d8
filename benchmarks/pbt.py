"""Population-based training against random search and successive halving, at equal compute.

    python benchmarks/pbt.py [--repeats 3] [--members 32] [--task digits|schedule|both]

Two tasks:

* ``digits``: ``optfn sweep``'s MLP with batch norm on scikit-learn's digits, Adam over
  the learning rate in [1e-4, 1] (log) and ``b1 = 1 - 10**U(-3, -1)``, 300 steps of
  batch 128, shared batches, ranked by validation cross-entropy;
* ``schedule``: noisy linear regression (10 features, label noise 1, batch 4, SGD over
  the learning rate in [1e-3, 0.3], 600 steps), where SGD's loss floor grows with the
  learning rate, so a rate that starts high and decays beats every fixed one. The metric
  is the distance to the true weights (the noise-free validation MSE).

Contenders, each with a fresh runner (its wall time includes compiling), about the same
trial-steps each:

* ``random``: ``--members`` configurations trained fully;
* ``halving``: successive halving (eta 3), as many configurations as fit the same
  trial-steps;
* ``pbt``: a population of ``--members`` (``PopulationBasedTraining()``: every chunk the
  bottom quarter copies the top quarter and perturbs by 0.8 or 1.25).

"retrained" trains the pick again with 8 fresh seeds and reports the mean: a random or
halving pick with its hyperparameters fixed (``Runner.confirm``); PBT's best member with
its schedule replayed (``result.schedule``, through ``optfn.inject_hyperparams``). Medians
over ``--repeats`` sweep seeds.
"""

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp

import optfn
from optfn import sweep
from optfn.sweep._halving import rungs


def digits():
    from optfn._cli_digits import digits_task

    t = digits_task(64, seed=0)
    init, loss, train, val = t["init"], t["loss"], t["data"], t["eval_data"]
    evaluate = lambda p, s, d: t["evaluate"](p, s, d)["loss"]  # noqa: E731 (validation cross-entropy)
    space = sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1.0), "b1": sweep.one_minus_log_uniform(0.9, 0.999)})

    def runner(optimizer):
        return sweep.Runner(init=init, loss=loss, evaluate=evaluate, data=train, eval_data=val, steps=300,
                            chunk_steps=25, batch_size=128, has_state=True, shared_batches=True, optimizer=optimizer)

    return space, runner, lambda s: optfn.inject_hyperparams(optfn.adam)(learning_rate=s["learning_rate"], b1=s["b1"]), \
        lambda h: optfn.adam(h["learning_rate"], b1=h["b1"])


def schedule():
    d, n = 10, 4096
    kx, kn = jax.random.split(jax.random.PRNGKey(5))
    x = jax.random.normal(kx, (n, d))
    w_star = 10.0 * jnp.linspace(-1, 1, d)
    y = x @ w_star + jax.random.normal(kn, (n,))
    val = {"x": x[:1024], "y": x[:1024] @ w_star}

    def mse(w, b):
        return jnp.mean((b["x"] @ w - b["y"]) ** 2)

    def runner(optimizer):
        return sweep.Runner(init=lambda k, hp: jnp.zeros(d), loss=mse, evaluate=mse, data={"x": x, "y": y},
                            eval_data=val, steps=600, chunk_steps=30, batch_size=4, shared_batches=True,
                            optimizer=optimizer)

    space = sweep.Space({"lr": sweep.log_uniform(1e-3, 0.3)})
    return space, runner, lambda s: optfn.inject_hyperparams(optfn.sgd)(learning_rate=s["lr"]), \
        lambda h: optfn.sgd(h["lr"])


def halving_configs(budget: int, steps: int, chunk: int, eta: int = 3) -> int:
    """The most configurations successive halving trains within ``budget`` trial-steps."""
    def cost(n):
        marks, alive, total, last = rungs(steps, chunk, eta, None) + [steps], n, 0, 0
        for k, r in enumerate(marks):
            total += alive * (r - last)
            last, alive = r, math.ceil(n / eta ** (k + 1))
        return total

    n = 1
    while cost(n + 1) <= budget:
        n += 1
    return n


def retrain_schedule(make_runner, replay, sched, seed):
    """The schedule replayed from fresh inits: one configuration, 8 seeds, ``scale`` fixed at 1."""
    def scaled(h):  # the learning rate times the one swept value, 1 (a runner needs something to read)
        return {k: (lambda t, s=s: h["scale"] * s(t)) if k in ("lr", "learning_rate") else s for k, s in sched.items()}

    runner = make_runner(lambda h: replay(scaled(h)))
    out = runner.run(sweep.Space({"scale": sweep.log_uniform(0.5, 2.0)}), [{"scale": 1.0}], seeds=8, seed=seed)
    return out.trials[0]["metric"]


def contest(task, members: int, seed: int) -> dict:
    space, make_runner, replay, fixed = task()
    out = {}
    for name in ("random", "halving", "pbt"):
        runner = make_runner(fixed)
        t0 = time.perf_counter()
        if name == "random":
            result = runner.run(space, members, seed=seed)
        elif name == "halving":
            n = halving_configs(members * runner.steps, runner.steps, runner.chunk_steps)
            result = runner.run(space, n, seed=seed, halving=3)
        else:
            result = runner.run(space, members, seed=seed, strategy=sweep.PopulationBasedTraining(seed=seed))
        wall = time.perf_counter() - t0
        best = result.best()
        if name == "pbt":
            again = retrain_schedule(make_runner, replay, result.schedule(best["id"]), 1000 + seed)
        else:
            again = runner.confirm(result, top_k=1, seeds=8, seed=1000 + seed).best()["metric"]
        out[name] = {"best": best["metric"], "retrained": again, "wall": wall, "trial_steps": result.trial_steps}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", type=int, default=32)
    parser.add_argument("--task", choices=("digits", "schedule", "both"), default="both")
    args = parser.parse_args()
    tasks = {"digits": digits, "schedule": schedule}
    chosen = list(tasks) if args.task == "both" else [args.task]
    print(f"{jax.device_count()} device(s), {jax.devices()[0].platform}; medians over {args.repeats} sweep seeds")
    for name in chosen:
        runs = [contest(tasks[name], args.members, seed) for seed in range(args.repeats)]
        print(f"\n{name}: {args.members} members / configurations (halving: as many as the same trial-steps)")
        print(f"{'contender':<9} {'trial-steps':>11} {'best in sweep':>14} {'retrained':>10} {'wall s':>7} "
              f"{'wall / random':>13}")
        for who in ("random", "halving", "pbt"):
            med = {k: statistics.median(r[who][k] for r in runs) for k in ("best", "retrained", "wall", "trial_steps")}
            ratio = statistics.median(r[who]["wall"] / r["random"]["wall"] for r in runs)
            print(f"{who:<9} {med['trial_steps']:>11.0f} {med['best']:>14.4f} {med['retrained']:>10.4f} "
                  f"{med['wall']:>7.1f} {ratio:>12.2f}x")


if __name__ == "__main__":
    main()
