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

How many steps the run costs depends on the results (how many arrivals a rung keeps),
so a pool size cannot fix it. ``total_steps`` caps it instead: the steps summed over
configurations never exceed it. A freed row starts a new configuration only while the
steps spent, plus those the running ones need to reach their next rung, plus the new
ones' first rung, fit; when the next chunk would not fit, the configurations furthest
from the end (the worst of equals) stop with ``"budget"``. The pool is then only the
most configurations the run may start: sample more than it will need.
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
    """Halving whose freed rows start the next configuration at once.

    Rows go idle only once the pool, or ``total_steps``, runs out.

    Args:
        eta: the reduction factor, an int >= 2.
        min_steps: steps before the first rung (default ``steps / eta**2``, whole chunks).
        concurrent: configurations training at once (default ``ceil(pool / eta)``); the
            runner sizes its programs by it.
        total_steps: the most steps all configurations train together (each
            configuration's steps summed; ``result.trial_steps`` is that times the
            replicas), at least one full training; ``None`` (default): the pool decides.

    Example:
        >>> from optfn.sweep import AsyncHalving
        >>> AsyncHalving(3, concurrent=4).final_alive(27, steps=90, chunk_steps=10)
        4
    """

    State = AsyncHalvingState
    lockstep = False

    def __init__(self, eta: int = 3, min_steps=None, concurrent=None, total_steps=None):
        super().__init__(eta, min_steps)
        for name, value in (("concurrent", concurrent), ("total_steps", total_steps)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int or None, got "
                                 f"{name}={value!r}.")
        self.concurrent, self.total_steps = concurrent, total_steps

    def __repr__(self) -> str:
        return f"AsyncHalving(eta={self.eta}, min_steps={self.min_steps}, concurrent={self.concurrent}{self._cap()})"

    def _cap(self) -> str:
        # left out when unset, so a checkpoint written before total_steps existed still resumes
        return "" if self.total_steps is None else f", total_steps={self.total_steps}"

    def _width(self, configs: int) -> int:
        return min(configs, self.concurrent or math.ceil(configs / self.eta))

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> AsyncHalvingState:
        marks = self._rungs(steps, chunk_steps)
        if self.total_steps is not None and self.total_steps < steps:
            raise ValueError(f"{type(self).__name__}: total_steps={self.total_steps} is less than one full "
                             f"training (steps={steps}); pass total_steps >= {steps}, or None.")
        return self.State(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal, rungs=marks,
                          seen=[[] for _ in marks] + [[]])

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        return self._width(configs)

    def first(self, state: AsyncHalvingState) -> list:
        k = self._width(state.pool)
        if self.total_steps is not None:  # as many as can reach the first rung
            k = min(k, self.total_steps // self._marks(state)[0])
        state.next = state.launched = k
        return list(range(k))

    def _marks(self, state: AsyncHalvingState) -> list:
        return state.rungs + [state.steps]

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
        if self.total_steps is not None:
            gone = {s.config for s in stop}
            more, stop = self._within_budget(state, [c for c in running if c not in gone], freed, stop)
            return Plan(stop=tuple(stop), start=tuple(self.propose(state, more)))
        return Plan(stop=tuple(stop), start=tuple(self.propose(state, freed)))

    def _within_budget(self, state: AsyncHalvingState, going: list, freed: int, stop: list) -> tuple:
        """How many of the ``freed`` rows may start a configuration, and ``stop`` with the
        ``"budget"`` stops the next chunk needs, so that ``total_steps`` is never passed."""
        spent = sum(state.steps_of(c) for c in range(state.configs))
        room = (self.total_steps - spent) // state.chunk_steps  # rows the next chunk can train
        if len(going) > room:  # keep those nearest the end (then the best): they may still finish
            order = rank([state.latest[c] for c in going], state.goal)
            order.sort(key=lambda c: -state.steps_of(c))
            return 0, stop + [Stop(c, "budget") for c in order[max(room, 0):]]
        marks = self._marks(state)
        need = spent + sum(next(m for m in marks if m > state.steps_of(c)) - state.steps_of(c) for c in going)
        more = 0
        while more < freed and need + (more + 1) * marks[0] <= self.total_steps:
            more += 1
        return more, stop
