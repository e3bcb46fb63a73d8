"""Synchronous successive halving as a sweep strategy.

At each rung (``min_steps * eta**k`` steps) the best ``ceil(n / eta**(k+1))`` of the
``n`` configurations continue and the rest stop (``"rung"``). The runner then repacks
the survivors into programs of the same width, so compute really drops and nothing
recompiles.
"""

import dataclasses
import math

from ._ledger import rank
from ._strategy import Plan, Stop, Strategy, StrategyState


def rungs(steps: int, chunk_steps: int, eta: int, min_steps) -> list:
    """The steps after which halving keeps the best ``1/eta``: ``min_steps * eta**k`` on
    whole chunks (``min_steps`` defaults to ``steps / eta**2``)."""
    k = chunk_steps
    r = min_steps if min_steps is not None else steps / eta ** 2
    r = max(k, int(math.ceil(r / k)) * k)
    out = []
    while r < steps:
        out.append(r)
        r = int(math.ceil(r * eta / k)) * k
    return out


def check_eta(fn: str, eta, min_steps) -> None:
    if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
        raise ValueError(f"{fn}: eta must be an int >= 2 (keep the best 1/eta), got eta={eta!r}.")
    if min_steps is not None and (isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 1):
        raise ValueError(f"{fn}: min_steps must be a positive int or None, got min_steps={min_steps!r}.")


def cut(state, members: list, n: int, eta: int, k: int) -> list:
    """``Stop`` records for ``members`` past the best ``ceil(n / eta**(k+1))`` (rung ``k``
    of a group of ``n`` configurations; failures rank last)."""
    keep = math.ceil(n / eta ** (k + 1))
    return [Stop(c, "rung") for c in rank([state.latest[c] for c in members], state.goal)[keep:]]


class Halves(Strategy):
    """What every halving strategy takes: ``eta`` (keep the best ``1/eta`` at a rung) and
    ``min_steps`` (steps before the first rung, or ``None`` for the strategy's default)."""

    def __init__(self, eta: int = 3, min_steps=None):
        check_eta(type(self).__name__, eta, min_steps)
        self.eta, self.min_steps = eta, min_steps

    def __repr__(self) -> str:  # checkpoints compare strategies by their repr
        return f"{type(self).__name__}(eta={self.eta}, min_steps={self.min_steps})"

    def _rungs(self, steps: int, chunk_steps: int) -> list:
        """The rungs, refusing a ``min_steps`` that leaves none before the end."""
        if self.min_steps is not None and self.min_steps >= steps:
            raise ValueError(f"{type(self).__name__}: min_steps={self.min_steps} leaves no rung before the end "
                             f"(steps={steps}); pass min_steps < steps, e.g. steps // eta**2.")
        return rungs(steps, chunk_steps, self.eta, self.min_steps)


@dataclasses.dataclass
class HalvingState(StrategyState):
    rungs: list = dataclasses.field(default_factory=list)  # steps of each rung
    rung: int = 0  # the next rung


class SuccessiveHalving(Halves):
    """Keep the best ``1/eta`` of the configurations at each rung (failures rank last).

    Args:
        eta: the reduction factor, an int >= 2.
        min_steps: steps before the first rung (default ``steps / eta**2``, rounded up to
            whole chunks); rungs follow at ``min_steps * eta**k``.

    Example:
        >>> from optfn.sweep import SuccessiveHalving
        >>> SuccessiveHalving(3).final_alive(27, steps=270, chunk_steps=10)  # rungs at 30 and 90
        3
    """

    State = HalvingState

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> HalvingState:
        return HalvingState(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal,
                            rungs=self._rungs(steps, chunk_steps))

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        return math.ceil(configs / self.eta ** len(rungs(steps, chunk_steps, self.eta, self.min_steps)))

    def trial_steps(self, configs: int, steps: int, chunk_steps: int) -> int:
        """The steps summed over configurations when none fails: ``configs`` to the first
        rung, then the best ``ceil(configs / eta**(k+1))`` from rung ``k`` to the next.

        Example:
            >>> from optfn.sweep import SuccessiveHalving
            >>> SuccessiveHalving(3).trial_steps(10, steps=60, chunk_steps=20)  # 10 x 20 + 4 x 40
            360
        """
        marks = self._rungs(steps, chunk_steps) + [steps]
        return configs * marks[0] + sum(math.ceil(configs / self.eta ** (k + 1)) * (marks[k + 1] - marks[k])
                                        for k in range(len(marks) - 1))

    def decide(self, state: HalvingState, running: list) -> Plan:
        k = state.rung
        if k >= len(state.rungs) or state.step < state.rungs[k]:
            return Plan()
        state.rung = k + 1
        return Plan(stop=tuple(cut(state, running, state.configs, self.eta, k)))
