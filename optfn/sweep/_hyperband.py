"""Hyperband (Li et al., 2018): brackets of successive halving with different starting budgets.

Successive halving needs a guess of how many steps tell good configurations from bad
(``min_steps``): too few and it stops slow starters, too many and it wastes the budget.
Hyperband hedges over the guess. With ``s_max`` the largest ``s`` such that
``steps / eta**s >= min_steps``, bracket ``s = s_max .. 0`` starts

    n_s = ceil((s_max + 1) / (s + 1) * eta**s)

configurations (the pool is shared out in these proportions, in order) and halves them
from ``steps / eta**s`` steps on: at each of its rungs ``r_s * eta**k`` the best
``ceil(n_s / eta**(k+1))`` of the bracket go on (``"rung"``). Bracket ``s_max`` is
aggressive halving, bracket 0 random search to the end.

The brackets train side by side from step 0, in the same programs: a structure compiles
its programs once, whatever the brackets.
"""

import dataclasses
import math

from ._halving import Halves, cut, rungs
from ._strategy import Plan, StrategyState


def brackets(configs: int, steps: int, chunk_steps: int, eta: int, min_steps) -> list:
    """``[(n_s, rungs_s), ...]`` for ``s = s_max .. 0``: each bracket's configurations (the
    pool shared out by Li et al.'s ``n_s``, largest remainders first) and its rungs."""
    low = chunk_steps if min_steps is None else min_steps
    s_max = 0
    while steps >= low * eta ** (s_max + 1):
        s_max += 1
    weights = [math.ceil((s_max + 1) / (s + 1) * eta ** s) for s in range(s_max, -1, -1)]
    share = [configs * w / sum(weights) for w in weights]
    counts = [int(x) for x in share]
    for i in sorted(range(len(share)), key=lambda i: counts[i] - share[i])[:configs - sum(counts)]:
        counts[i] += 1
    return [(n, rungs(steps, chunk_steps, eta, steps / eta ** s)) for n, s in zip(counts, range(s_max, -1, -1))]


@dataclasses.dataclass
class HyperbandState(StrategyState):
    bracket: list = dataclasses.field(default_factory=list)  # each configuration's bracket
    sizes: list = dataclasses.field(default_factory=list)  # each bracket's configurations
    rungs: list = dataclasses.field(default_factory=list)  # each bracket's rungs (steps)
    rung: list = dataclasses.field(default_factory=list)  # each bracket's next rung


class Hyperband(Halves):
    """Brackets of successive halving from several starting budgets, trained together.

    Args:
        eta: the reduction factor, an int >= 2.
        min_steps: the smallest starting budget (default one chunk); it sets how many
            brackets there are.

    Example:
        >>> from optfn.sweep import Hyperband
        >>> from optfn.sweep._hyperband import brackets
        >>> brackets(17, steps=90, chunk_steps=10, eta=3, min_steps=None)  # (configurations, rungs)
        [(9, [10, 30]), (5, [30]), (3, [])]
        >>> Hyperband(3).final_alive(17, steps=90, chunk_steps=10)  # 1 + 2 + 3
        6
    """

    State = HyperbandState

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> HyperbandState:
        if self.min_steps is not None and self.min_steps > steps:
            raise ValueError(f"Hyperband: min_steps={self.min_steps} exceeds steps={steps}; pass min_steps <= steps, "
                             "e.g. one chunk.")
        plan = brackets(configs, steps, chunk_steps, self.eta, self.min_steps)
        member = [b for b, (n, _) in enumerate(plan) for _ in range(n)]
        return HyperbandState(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal, bracket=member,
                              sizes=[n for n, _ in plan], rungs=[r for _, r in plan], rung=[0] * len(plan))

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        return sum(math.ceil(n / self.eta ** len(r))
                   for n, r in brackets(configs, steps, chunk_steps, self.eta, self.min_steps) if n)

    def decide(self, state: HyperbandState, running: list) -> Plan:
        stop = []
        for b, (n, marks) in enumerate(zip(state.sizes, state.rungs)):
            k = state.rung[b]
            if k < len(marks) and state.step >= marks[k]:
                state.rung[b] = k + 1
                stop += cut(state, [c for c in running if state.bracket[c] == b], n, self.eta, k)
        return Plan(stop=tuple(stop))
