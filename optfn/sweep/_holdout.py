"""The picks on test data: evaluated after the sweep, on data no decision saw.

A sweep's best validation metric is optimistically biased: it is the best of many noisy
numbers, and a strategy (halving, PBT) selects on it over and over. ``Runner(test_data=)``
evaluates the best ``PICKS`` configurations of every run (so the best, the top of the
tables, a confirmation's configurations and PBT's best), once, with the trained params,
after the run has made every decision. Their ``test_metric`` (mean over replicas) sits
beside ``metric`` in the result; it is never used to rank.
"""

import numpy as np

import jax

from ._blocks import trial_keys
from ._model import eval_key

PICKS = 10  # the configurations a run's tables show


def evaluate(runner, result, train_root, data, k: int = PICKS) -> None:
    """Set ``test_metric`` (the mean over replicas, each in ``test_replica_metrics``; and
    ``test_metrics`` for a dict ``evaluate``) on the best ``k`` configurations of
    ``result`` whose params were kept."""
    space, programs = result.space, {}
    for t in result.top(k):
        hp = t["lineage"][-1]["hyperparams"] if t.get("lineage") else t["hyperparams"]  # PBT: the final ones
        static = space.static(hp)
        traced = {n: np.asarray(hp[n], space.dimensions[n].dtype) for n in space.traced_names}
        name = repr(sorted(static.items()))
        if name not in programs:  # one program per structure, as the sweep's
            programs[name] = jax.jit(lambda params, mstate, traced, key, data, static=static: runner.model.evaluate(
                params, mstate, data, {**static, **traced}, key))
        values = []
        for r in range(result.seeds):
            if (t["id"], r) not in result.models:
                continue
            kept = result.models[(t["id"], r)]
            params, mstate = kept if runner.has_state else (kept, None)
            row_key = trial_keys(train_root, np.asarray([[t["id"], r]], np.int64))[0]
            values.append(jax.device_get(programs[name](params, mstate, traced, eval_key(row_key), data)))
        if not values:
            continue
        if isinstance(values[0], dict):
            t["test_metrics"] = {n: float(np.mean([v[n] for v in values])) for n in values[0]}
            t["test_replica_metrics"] = [float(v[runner.metric]) for v in values]
            t["test_metric"] = t["test_metrics"][runner.metric]
        else:
            t["test_replica_metrics"] = [float(v) for v in values]
            t["test_metric"] = float(np.mean(t["test_replica_metrics"]))
