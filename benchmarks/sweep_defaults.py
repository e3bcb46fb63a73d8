"""How ``optfn sweep``'s defaults were chosen: variants of ``coarse_to_fine`` on its task.

    python benchmarks/sweep_defaults.py [--repeats 3]

Every variant searches the task of ``benchmarks/sweep.py`` (digits, MLP with batch norm,
Adam's learning rate and ``b1``, 300 steps) at about the same trial-steps, and its pick
is retrained with 8 fresh seeds (own batches each; the same keys for every variant); the
table gives, over ``--repeats`` sweep seeds, the median retrained validation loss, its
spread (the interquartile range), the median of the per-seed differences from the
default (paired: same sweep seed, same retraining keys), the sweep's own best, the
trial-steps and the wall time (programs compiled once per variant beforehand, so the
times compare search work, not compilation).
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import sweep as task  # noqa: E402  (benchmarks/sweep.py: the same task and retraining)

VARIANTS = {  # name: (Runner options, coarse_to_fine options)
    "default: 2 rounds x 128, halving 3, shared batches, confirm 4 x 8": ({"shared_batches": True}, {}),
    "own batches per trial": ({}, {}),
    "no confirmation, 2 rounds x 160": ({"shared_batches": True}, {"trials": 160, "confirm": 0}),
    "seeds=2, 2 rounds x 64": ({"shared_batches": True}, {"trials": 64, "seeds": 2}),
    "seeds=2, 2 rounds x 64, own batches": ({}, {"trials": 64, "seeds": 2}),
    "1 round x 256": ({"shared_batches": True}, {"trials": 256, "rounds": 1}),
    "no halving, 2 rounds x 48": ({"shared_batches": True}, {"trials": 48, "halving": None}),
    "zoom around the best 4": ({"shared_batches": True}, {"top_k": 4}),
    "zoom around the best 32": ({"shared_batches": True}, {"top_k": 32}),
    "confirm 8 x 4": ({"shared_batches": True}, {"confirm": 8, "confirm_seeds": 4}),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    from optfn import sweep

    rows, retrained = {}, {}
    header = (f"{'variant (median of %d sweep seeds)' % args.repeats:<66}{'retrained':>10}{'IQR':>8}{'vs default':>11}"
              f"{'best':>8}{'t-steps':>9}{'wall s':>8}")
    print(header, flush=True)
    for name, (runner_kw, search_kw) in VARIANTS.items():
        # the table in the README was measured with batches drawn with replacement
        runner = task._runner(args.steps, **{"sampling": "replacement", **runner_kw})
        kw = {"trials": 128, **search_kw}
        sweep.coarse_to_fine(runner, task._space(), seed=99, **kw)  # compile
        out = []
        for seed in range(args.repeats):
            t0 = time.perf_counter()
            result = sweep.coarse_to_fine(runner, task._space(), seed=seed, **kw)
            wall = time.perf_counter() - t0
            pick = (result.confirmed or result).best()
            out.append((task.retrain([pick["hyperparams"]], args.steps, seed)[0], result.best()["metric"],
                        result.trial_steps, wall))
        retrained[name] = [o[0] for o in out]
        first = next(iter(retrained.values()))
        q = statistics.quantiles(retrained[name], n=4)
        rows[name] = (statistics.median(retrained[name]), q[2] - q[0],
                      statistics.median(a - b for a, b in zip(retrained[name], first)),
                      *(statistics.median(col) for col in list(zip(*out))[1:]))
        print(_row(name, rows[name]), flush=True)
    print("\n" + header)
    for name, r in rows.items():
        print(_row(name, r))


def _row(name, r):
    return f"{name:<66}{r[0]:>10.4f}{r[1]:>8.4f}{r[2]:>+11.4f}{r[3]:>8.4f}{int(r[4]):>9}{r[5]:>8.2f}"


if __name__ == "__main__":
    main()
