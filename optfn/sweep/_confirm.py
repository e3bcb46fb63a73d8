"""Confirming a sweep's picks with fresh seeds; population-based training's schedules replayed.

A PBT member's final weights were trained by the members that held them before each
copy, each with its own hyperparameters: a piecewise-constant schedule
(``SweepResult.schedule``). ``Runner.confirm`` on a PBT result retrains each pick from
fresh initialisations under that schedule: it starts from the first piece's values and,
at each later piece's first step, a ``ScheduleReplay`` plan hands the configuration its
next values, as PBT's copy did (its optimizer state kept, the new values used from the
next update on). The replay's own ``lineage`` records those changes.
"""

from typing import Sequence

import jax
import numpy as np

from ._lineage import segments
from ._result import SweepResult
from ._run_setup import positive_int
from ._strategy import Plan, Strategy


class ScheduleReplay(Strategy):
    """Train every configuration to the end, changing its numeric hyperparameters at given steps.

    Args:
        changes: per configuration, ``[(step, {name: value}), ...]``: from ``step`` on
            (a multiple of ``chunk_steps``) the configuration trains with those values.

    Example:
        >>> from optfn.sweep._confirm import ScheduleReplay
        >>> s = ScheduleReplay([[(20, {"lr": 0.05})]])
        >>> state = s.init(1, steps=40, chunk_steps=20, goal="min")
        >>> _, state = s.ask(state)
        >>> from optfn.sweep import Report
        >>> s.ask(s.tell(state, [Report(0, 20, 0.5, "ok")]))[0].clone
        ((0, 0, {'lr': 0.05}),)
    """

    def __init__(self, changes: Sequence):
        self.changes = [[(int(s), dict(hp)) for s, hp in c] for c in changes]

    def __repr__(self) -> str:
        return f"ScheduleReplay({self.changes!r})"

    def decide(self, state, running: list) -> Plan:
        return Plan(clone=tuple((c, c, hp) for c in running for s, hp in self.changes[c] if s == state.step))


def schedules_of(result, top: list, space) -> tuple:
    """``(first values, ScheduleReplay)`` for the configurations ``top`` of a PBT ``result``."""
    by_id = {t["id"]: t for t in result.trials}
    numeric = set(space.traced_names)
    firsts, changes = [], []
    for t in top:
        parts = segments(by_id, t["id"])
        firsts.append({k: v for k, v in parts[0][1].items() if k in space.dimensions})
        changes.append([(step, {k: v for k, v in hp.items() if k in numeric}) for step, hp in parts[1:]])
    return firsts, ScheduleReplay(changes)


def confirm(runner, result, top_k: int, seeds: int, seed, run_kwargs: dict) -> SweepResult:
    """See ``Runner.confirm``."""
    top_k = positive_int("Runner.confirm", "top_k", top_k)
    top = result.top(top_k)
    if not top:
        raise ValueError("Runner.confirm: the result has no finished trial to confirm.")
    if result.space is None:
        raise ValueError("Runner.confirm: the result carries no search space; pass a result from Runner.run.")
    if seed is None:
        seed = jax.random.fold_in(np.asarray(result.root, np.uint32), 0x5EED)
    if any(t.get("lineage") for t in top):  # PBT: each pick's schedule, replayed from fresh inits
        configs, replay = schedules_of(result, top, result.space)
        run_kwargs = {**run_kwargs, "strategy": replay}
    else:
        configs = [t["hyperparams"] for t in top]
    out = runner.run(result.space, configs, seed=seed, seeds=seeds, **run_kwargs)
    ids = {t["id"]: src["id"] for t, src in zip(out.trials, top)}
    for t in out.trials:
        t["id"] = ids[t["id"]]
        for e in t.get("lineage", ()):  # a replay's changes: its own configuration
            e["from"] = None if e["from"] is None else ids[e["from"]]
    confirmed = SweepResult(out.trials, out.goal, out.trial_steps, timings=out.timings, space=out.space,
                            root=out.root, seeds=seeds, width=out.width, row_steps=out.row_steps)
    confirmed.models = {(ids[i], r): v for (i, r), v in out.models.items()}
    return confirmed
