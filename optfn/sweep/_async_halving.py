"""Successive halving whose freed rows start new configurations at once (ASHA in lockstep).

Synchronous halving (``SuccessiveHalving``) waits for a whole rung, then stops all but
the best ``1/eta``: the rows it frees stay empty, so the programs run part-empty or are
repacked smaller. Here (Li et al.'s ASHA, 2020, decided between chunks) a configuration
is judged when it *reaches* a rung: it goes on if its metric is among the best
``ceil(m / eta)`` of the ``m`` configurations that have reached that rung so far (itself
and those arriving in the same chunk included), and stops (``"rung"``) otherwise. Every
row freed (by a rung, a failure or the end) starts the next configuration of the pool at
step 0, so ``concurrent`` configurations train in every chunk and the blocks stay full
until the pool runs out (then the last configurations finish in part-empty blocks:
``result.row_steps`` counts those rows).

Early arrivals are judged against few others, so a rung is lenient at first and
stricter as it fills, as in ASHA. Rows of one block are at different steps, so this
strategy needs ``Runner(shared_batches=False)`` (each trial draws its own batches).
"""

import dataclasses
import math

from ._halving import Halves
from ._ledger import Report, rank
from ._strategy import Plan, Stop, StrategyState


@dataclasses.dataclass
class AsyncHalvingState(StrategyState):
    rungs: list = dataclasses.field(default_factory=list)  # steps of each rung
    # per rung, and last for the end: [config, metric, status] of each arrival
    seen: list = dataclasses.field(default_factory=list)
    next: int = 0  # the next pool configuration to start
    launched: int = 0  # configurations started so far (at most the pool's size)


class AsyncHalving(Halves):
    """Halving that never leaves a row idle: each stop starts the next configuration.

    Args:
        eta: the reduction factor, an int >= 2.
        min_steps: steps before the first rung (default ``steps / eta**2``, whole chunks).
        concurrent: configurations training at once (default ``ceil(pool / eta)``); the
            runner sizes its programs by it.

    Example:
        >>> from optfn.sweep import AsyncHalving
        >>> AsyncHalving(3, concurrent=4).final_alive(27, steps=90, chunk_steps=10)
        4
    """

    State = AsyncHalvingState
    lockstep = False

    def __init__(self, eta: int = 3, min_steps=None, concurrent=None):
        super().__init__(eta, min_steps)
        if concurrent is not None and (isinstance(concurrent, bool) or not isinstance(concurrent, int)
                                       or concurrent < 1):
            raise ValueError(f"{type(self).__name__}: concurrent must be a positive int or None, got "
                             f"concurrent={concurrent!r}.")
        self.concurrent = concurrent

    def __repr__(self) -> str:
        return f"AsyncHalving(eta={self.eta}, min_steps={self.min_steps}, concurrent={self.concurrent})"

    def _width(self, configs: int) -> int:
        return min(configs, self.concurrent or math.ceil(configs / self.eta))

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> AsyncHalvingState:
        marks = self._rungs(steps, chunk_steps)
        return self.State(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal, rungs=marks,
                          seen=[[] for _ in marks] + [[]])

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        return self._width(configs)

    def first(self, state: AsyncHalvingState) -> list:
        state.next = state.launched = self._width(state.pool)
        return list(range(state.next))

    def propose(self, state: AsyncHalvingState, k: int) -> list:
        """What starts in ``k`` freed rows: the next configurations of the pool."""
        start = list(range(state.next, min(state.pool, state.next + k)))
        state.next += len(start)
        state.launched += len(start)
        return start

    def decide(self, state: AsyncHalvingState, running: list) -> Plan:
        for c in state.alive:  # those that trained all their steps, for a strategy that learns from them
            r = state.latest[c]
            if c not in running and r is not None and r.step >= state.steps:
                state.seen[-1].append([c, r.metric, r.status])
        arrivals = {}  # rung -> configurations that reached it in this chunk, judged together
        for c in running:
            r = state.latest[c]
            if r.step in state.rungs:
                k = state.rungs.index(r.step)
                state.seen[k].append([c, r.metric, r.status])
                arrivals.setdefault(k, []).append(c)
        stop = []
        for k, cs in arrivals.items():
            arrived = [Report(a, state.rungs[k], m, s) for a, m, s in state.seen[k]]
            best = set(rank(arrived, state.goal)[:math.ceil(len(arrived) / self.eta)])
            stop += [Stop(c, "rung") for c in cs if c not in best]
        freed = len(state.alive) - len(running) + len(stop)  # failures and ends the base stops, and these
        return Plan(stop=tuple(stop), start=tuple(self.propose(state, freed)))
