"""Sweeps end to end, as a user times them: wall time with compilation, and whether the
chosen configuration holds up when retrained.

    python benchmarks/sweep.py [--trials 128] [--steps 300] [--repeats 3]

The task is ``optfn sweep``'s: an MLP with batch norm (64-64-10) on scikit-learn's digits,
Adam with the learning rate in [1e-4, 1] (log) and ``b1 = 1 - 10**U(-3, -1)``, 300
steps of batch 128, ranked by validation cross-entropy. Contenders, each in a fresh
process (so every one pays its own compilation), about the same trial-steps each:

  (A) Optuna TPE, one trial at a time, each trial one jitted optax training scan;
  (B) hand-written ``jit(vmap(scan))`` random search with ``optax.inject_hyperparams``;
  (C) ``optfn.sweep.coarse_to_fine`` with ``optfn sweep``'s defaults (2 rounds of
      ``--trials`` with halving, shared batches, the best 4 confirmed with 8 seeds), on
      one XLA device per CPU core as the CLI runs it, with an empty compilation cache;
  (C warm) C again in a new process with the cache C filled;
  (C 1 dev) C on a single device;
  (D) ``optfn.integrations.optuna``, TPE, 4 batches of ``--trials / 4``.

Each contender's chosen configuration is then retrained with 8 fresh seeds (the same
code for all) and the mean validation loss is reported. Medians over ``--repeats``
sweep seeds. Also the sweep's FLOP rate (analytic: ``6 * batch * (64 h + 10 h)`` per
trial-step) against this machine's GEMM peak, one large ``jnp.dot`` measured in C's
process.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HIDDEN, BATCH = 64, 128


def _task():
    """``(init, loss, evaluate, train, val)``: the bundled task ranked by validation cross-entropy."""
    from optfn._cli_digits import digits_task

    t = digits_task(HIDDEN, seed=0)
    return t["init"], t["loss"], lambda p, s, d: t["evaluate"](p, s, d)["loss"], t["data"], t["eval_data"]


def _space():
    from optfn import sweep

    return sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1.0), "b1": sweep.one_minus_log_uniform(0.9, 0.999)})


def _runner(steps, **kw):
    import optfn
    from optfn import sweep

    init, loss, evaluate, train, val = _task()
    return sweep.Runner(init=init, loss=loss, evaluate=evaluate, data=train, eval_data=val, steps=steps,
                        chunk_steps=50, batch_size=BATCH, has_state=True,
                        optimizer=lambda h: optfn.adam(h["learning_rate"], b1=h["b1"]), **kw)


def _optax_trial(steps):
    """One trial as a jitted function of (key, lr, b1): a scan of optax steps, then the val loss."""
    import jax
    import optax

    init, loss, evaluate, train, val = _task()
    train, val = jax.tree.map(jax.numpy.asarray, (train, val))
    tx = optax.inject_hyperparams(optax.adam)(learning_rate=1e-3, b1=0.9)
    n = len(train["y"])

    def trial(key, lr, b1):
        params, state = init(jax.random.fold_in(key, 0), {})
        opt = tx.init(params)
        opt.hyperparams["learning_rate"], opt.hyperparams["b1"] = lr, b1

        def body(carry, t):
            params, state, opt = carry
            idx = jax.random.randint(jax.random.fold_in(key, t + 1), (BATCH,), 0, n)
            (value, state), grads = jax.value_and_grad(loss, has_aux=True)(params, state,
                                                                           jax.tree.map(lambda a: a[idx], train))
            updates, opt = tx.update(grads, opt, params)
            return (optax.apply_updates(params, updates), state, opt), value

        (params, state, _), _ = jax.lax.scan(body, (params, state, opt), jax.numpy.arange(steps))
        return evaluate(params, state, val)

    return trial


def contender(name, trials, steps, seed, cache_dir):
    """Run one contender in this process; return its record (wall seconds include compilation)."""
    import jax
    import numpy as np

    t0 = time.perf_counter()
    out = {"name": name}
    if name == "A":
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        run = jax.jit(_optax_trial(steps))
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))

        def objective(t):
            lr = t.suggest_float("learning_rate", 1e-4, 1.0, log=True)
            b1 = 1 - t.suggest_float("1-b1", 1e-3, 1e-1, log=True)
            value = float(run(jax.random.PRNGKey(seed * 100_000 + t.number), lr, b1))
            return value if np.isfinite(value) else float("nan")

        study.optimize(objective, n_trials=trials)
        out["best"], p = study.best_value, study.best_params
        out["chosen"] = {"learning_rate": p["learning_rate"], "b1": 1 - p["1-b1"]}
        out["trial_steps"] = trials * steps
    elif name == "B":
        rng = np.random.default_rng(seed)
        lr = (10 ** rng.uniform(-4, 0, trials)).astype(np.float32)
        b1 = (1 - 10 ** rng.uniform(-3, -1, trials)).astype(np.float32)
        keys = jax.random.split(jax.random.PRNGKey(seed), trials)
        values = np.asarray(jax.jit(jax.vmap(_optax_trial(steps)))(keys, lr, b1), np.float64)
        i = int(np.nanargmin(np.where(np.isfinite(values), values, np.nan)))
        out["best"], out["chosen"] = float(values[i]), {"learning_rate": float(lr[i]), "b1": float(b1[i])}
        out["trial_steps"] = trials * steps
    elif name.startswith("C"):
        from optfn import sweep

        runner = _runner(steps, shared_batches=True, cache_dir=cache_dir)
        mesh = sweep.trials_mesh() if jax.device_count() > 1 else None
        result = sweep.coarse_to_fine(runner, _space(), trials, seed=seed, mesh=mesh)
        best = result.confirmed.best()
        out["best"] = min(t["metric"] for t in result.top(1))
        out["chosen"], out["trial_steps"], out["timings"] = best["hyperparams"], result.trial_steps, result.timings
        out["devices"] = jax.device_count()
    elif name == "D":
        import optuna

        from optfn.integrations.optuna import optimize

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
        optimize(study, _runner(steps), _space(), n_trials=trials, batch_size=trials // 4, seed=seed)
        p = study.best_params
        out["best"], out["chosen"] = study.best_value, {"learning_rate": p["learning_rate"], "b1": 1 - p["1-b1"]}
        out["trial_steps"] = trials * steps
    out["wall"] = time.perf_counter() - t0
    if name == "C":  # the FLOP rate of the sweep against one large GEMM, in this process
        import jax.numpy as jnp

        a = jnp.ones((2048, 2048), jnp.float32)
        dot = jax.jit(lambda x: x @ x)
        dot(a).block_until_ready()
        times = []
        for _ in range(5):
            t1 = time.perf_counter()
            dot(a).block_until_ready()
            times.append(time.perf_counter() - t1)
        out["gemm_flops"] = 2 * 2048 ** 3 / min(times)
        out["sweep_flops"] = out["trial_steps"] * 6 * BATCH * (64 + 10) * HIDDEN / out["timings"]["train"]
    return out


def _spawn(name, args, seed, cache_dir, devices):
    env = dict(os.environ)
    if devices:
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}".strip()
    cmd = [sys.executable, __file__, "--contender", name, "--trials", str(args.trials), "--steps", str(args.steps),
           "--seed", str(seed), "--cache-dir", cache_dir]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def retrain(chosen: list, steps: int, seed: int) -> list:
    """Mean validation loss of each configuration over the same 8 fresh seeds (each replica
    its own batches): every contender's pick is retrained with the same keys."""
    runner = _runner(steps)
    return [runner.run(_space(), [c], seeds=8, seed=10_000 + seed).trials[0]["metric"] for c in chosen]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=128)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--contender")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    if args.contender:
        print(json.dumps(contender(args.contender, args.trials, args.steps, args.seed, args.cache_dir)))
        return
    import jax

    cores = os.cpu_count() or 1
    names = ["A", "B", "C", "C warm", "C 1 dev", "D"]
    rows = {n: [] for n in names}
    for seed in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache:
            for name in names:
                devices = cores if name in ("C", "C warm") else 1
                rows[name].append(_spawn(name.split()[0], args, seed, cache if name != "C 1 dev" else
                                         os.path.join(cache, "single"), devices))
        scores = retrain([rows[n][-1]["chosen"] for n in names], args.steps, seed)
        for n, s in zip(names, scores):
            rows[n][-1]["retrained"] = s
    med = {n: {k: statistics.median(r[k] for r in rows[n]) for k in ("wall", "best", "retrained", "trial_steps")}
           for n in names}
    print(f"jax {jax.__version__}, {jax.default_backend()}, {cores} cores; digits MLP 64-{HIDDEN}-10 with batch norm, "
          f"{args.trials} trials x {args.steps} steps budget, median of {args.repeats} sweep seeds")
    print(f"{'contender':<44}{'wall s':>8}{'vs B':>7}{'best val':>10}{'retrained':>11}{'trial-steps':>13}")
    labels = {"A": "(A) Optuna TPE, one trial at a time", "B": "(B) hand-written jit(vmap(scan)), random",
              "C": f"(C) optfn coarse_to_fine, {cores} devices", "C warm": "(C) again, warm compilation cache",
              "C 1 dev": "(C) on 1 device", "D": "(D) optfn Optuna integration, 4 batches"}
    for n in names:
        m = med[n]
        print(f"{labels[n]:<44}{m['wall']:>8.2f}{m['wall'] / med['B']['wall']:>7.2f}{m['best']:>10.4f}"
              f"{m['retrained']:>11.4f}{int(m['trial_steps']):>13}")
    others = min(med[n]["retrained"] for n in ("A", "B", "D"))
    c = rows["C"]
    print(f"\nC retrained vs best of A, B, D: {med['C']['retrained'] / others - 1:+.1%}")
    print("C compile / train (evaluations included) / plan s (median): " + " / ".join(
        f"{statistics.median(r['timings'].get(k, 0.0) for r in c):.2f}" for k in ("compile", "train", "plan")))
    rate = statistics.median(r["sweep_flops"] / r["gemm_flops"] for r in c)
    print(f"C FLOP rate {statistics.median(r['sweep_flops'] for r in c) / 1e9:.1f} GFLOP/s = {rate:.0%} of one "
          f"2048^2 jnp.dot ({statistics.median(r['gemm_flops'] for r in c) / 1e9:.1f} GFLOP/s)")


if __name__ == "__main__":
    main()
