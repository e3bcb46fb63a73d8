"""Sweep strategies: decisions taken on the host between chunks, in ask/tell style.

The runner's loop is::

    strategy.prepare(space, hyperparams)      # the space and the sampled pool
    state = strategy.init(configs, steps, chunk_steps, goal)
    while True:
        plan, state = strategy.ask(state)     # start these, stop those, clone some
        apply the plan to the blocks          # init + step-0 evaluation / drop rows / copy rows
        if plan.done: break
        train every running trial one chunk, evaluate, record in the ledger
        state = strategy.tell(state, reports) # one Report per running configuration

A strategy works on *configurations* (a configuration's replicas start and stop
together, and its report carries their mean metric). ``Strategy`` keeps the bookkeeping
every strategy shares, in a typed ``StrategyState``: which configurations run, each one's
latest report and steps, failures stopped at once (``"nan"``, ``"diverged"``), a
configuration stopped when it has trained all ``steps`` (``"end"``), the run done when
nothing runs. A subclass writes its decision in one hook, ``decide``; ``first`` says
what starts (default: the whole sampled pool). ``Plan.start`` takes pool indices or new
hyperparameter dicts, which the ledger numbers after the configurations it has, in order.

The state is a dataclass with a JSON form (``to_json`` / ``Strategy.state_from_json``),
so a checkpoint stores it and a resumed sweep takes the same decisions. An object with
only ``init``, ``ask`` and ``tell`` (and a state of plain lists, numbers and strings)
drives the runner too.
"""

import copy
import dataclasses
from typing import NamedTuple, Optional, Sequence

from ._ledger import OK, Report

#: why a configuration stopped: trained to the end, cut at a halving rung, failed, the
#: time budget (or ``AsyncHalving``'s ``total_steps``), or (PBT) its weights were
#: replaced by a better member's
REASONS = ("end", "rung", "nan", "diverged", "budget", "exploited")


class Stop(NamedTuple):
    """A configuration to stop, and why (one of ``REASONS``, or a word of one's own)."""

    config: int
    reason: str


class Plan(NamedTuple):
    """What the runner does next: start configurations, stop others, or finish."""

    # configurations to initialise (and evaluate at step 0), then train: ints index the
    # sampled pool; dicts are new configurations (every name of the space), numbered next
    start: tuple = ()
    stop: tuple = ()  # ints or ``Stop`` records; their results are kept
    done: bool = False  # nothing left to train
    # (dst, src, hyperparams): running configuration dst takes src's params, model and
    # optimizer state (replica r from replica r, same structure) and trains on with the
    # numeric hyperparameters given (a dict; names left out keep their values)
    clone: tuple = ()


def stops(plan: Plan) -> list:
    """``plan.stop`` as ``Stop`` records (a bare int is a stop of the strategy's own: ``"rung"``)."""
    return [s if isinstance(s, Stop) else Stop(int(s), "rung") for s in plan.stop]


@dataclasses.dataclass
class StrategyState:
    """What every strategy tracks; a subclass of ``Strategy`` extends it with its own fields.

    ``latest[c]`` is configuration ``c``'s latest ``Report`` (``None`` before its first);
    ``alive`` the running configurations; ``pool`` how many were sampled up front,
    ``configs`` how many exist (the pool and those proposed since, whose hyperparameters
    are ``proposed``); ``step`` the furthest step any configuration reached.
    """

    configs: int
    steps: int
    chunk_steps: int
    goal: str
    pool: int = 0
    step: int = 0
    started: bool = False
    alive: list = dataclasses.field(default_factory=list)
    latest: list = dataclasses.field(default_factory=list)
    proposed: list = dataclasses.field(default_factory=list)

    def __post_init__(self):
        self.pool = self.pool or self.configs
        self.latest = [None if r is None else Report(*r) for r in (self.latest or [None] * self.configs)]
        self.proposed = [dict(h) for h in self.proposed]

    def to_json(self) -> dict:
        """Plain data (lists, numbers, strings) for a checkpoint."""
        return json_of(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data) -> "StrategyState":
        """The state ``to_json`` wrote; ``ValueError`` naming the fields where ``data`` is
        another kind of state (another strategy's, or an older optfn's plain dict)."""
        fields = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != fields:
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"the saved strategy state ({got}) does not fit {cls.__name__} (fields {sorted(fields)}): "
                             "it was written by another strategy or another version of optfn; start the sweep "
                             "again in a new folder.")
        return cls(**data)

    def steps_of(self, config: int) -> int:
        """Steps configuration ``config`` has trained (0 before its first report)."""
        r = self.latest[config]
        return 0 if r is None else r.step


def json_of(x):
    """``x`` with tuples (reports included) as lists: the form JSON gives back."""
    if isinstance(x, dict):
        return {k: json_of(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_of(v) for v in x]
    return x


class Strategy:
    """The base of every strategy: shared bookkeeping, the decision in ``decide``.

    A subclass overrides:

    * ``decide(state, running) -> Plan``: what to do with the healthy running
      configurations that have steps left (stop some, clone, start new ones);
    * optionally ``first(state)``: what starts at step 0 (default: every pool index);
      ``final_alive`` (how many train in the last phase, which sizes the programs);
      ``State`` (a ``StrategyState`` subclass with its own fields) and ``init``.

    ``stop_failures = False`` leaves failed configurations running for ``decide`` to
    handle (PBT replaces them). ``space`` and ``hyperparams`` (the sampled pool) are set by
    ``prepare`` before ``init``.

    Example (a strategy of one's own: after the first chunk only the best two go on):
        >>> from optfn import sweep
        >>> class BestTwo(sweep.Strategy):
        ...     def decide(self, state, running):
        ...         if state.step != state.chunk_steps:
        ...             return sweep.Plan()
        ...         ranked = sweep.rank([state.latest[c] for c in running], state.goal)
        ...         return sweep.Plan(stop=tuple(sweep.Stop(c, "rung") for c in ranked[2:]))
        >>> s = BestTwo(); state = s.init(3, steps=20, chunk_steps=10, goal="min")
        >>> plan, state = s.ask(state); plan.start
        (0, 1, 2)
        >>> state = s.tell(state, [sweep.Report(0, 10, 0.5, "ok"), sweep.Report(1, 10, 0.2, "ok"),
        ...                        sweep.Report(2, 10, 0.4, "ok")])
        >>> s.ask(state)[0].stop
        (Stop(config=0, reason='rung'),)
    """

    State = StrategyState
    stop_failures = True
    lockstep = True  # every running configuration at the same step (False: it starts some mid-run)
    space = None
    hyperparams: Optional[list] = None
    groups: Optional[list] = None

    def __repr__(self) -> str:  # checkpoints compare strategies by their repr
        return f"{type(self).__name__}()"

    # -- the hooks ---------------------------------------------------------------------

    def prepare(self, space, hyperparams: Sequence[dict], groups=None) -> None:
        """The sweep's ``Space`` and the sampled pool's hyperparameters; ``groups`` labels
        the configurations that share programs (the runner's buckets)."""
        self.space, self.hyperparams = space, [dict(h) for h in hyperparams]
        self.groups = None if groups is None else [str(g) for g in groups]

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> StrategyState:
        return self.State(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal)

    def first(self, state: StrategyState) -> list:
        """What starts at step 0: pool indices or new hyperparameter dicts."""
        return list(range(state.pool))

    def decide(self, state: StrategyState, running: list) -> Plan:
        """The strategy's own decision about ``running`` (healthy, with steps left)."""
        return Plan()

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        """How many configurations train in the last phase (the runner sizes its programs by it)."""
        return configs

    def state_from_json(self, data: dict) -> StrategyState:
        """The state a checkpoint stored (``StrategyState.to_json``)."""
        return self.State.from_json(data)

    # -- the template ------------------------------------------------------------------

    def ask(self, state: StrategyState) -> tuple:
        state = copy.deepcopy(state)
        if not state.started:
            state.started = True
            starts = self._number(state, self.first(state))
            return Plan(start=starts), state
        stop = []
        for c in state.alive:
            r = state.latest[c]
            failed = r is not None and r.status != OK
            if failed and (self.stop_failures or state.steps_of(c) >= state.steps):
                stop.append(Stop(c, r.status))
            elif state.steps_of(c) >= state.steps:
                stop.append(Stop(c, "end"))
        gone = {s.config for s in stop}
        plan = self.decide(state, [c for c in state.alive if c not in gone])
        stop += stops(plan)
        gone = {s.config for s in stop}
        starts = self._number(state, list(plan.start))
        state.alive = [c for c in state.alive if c not in gone]
        return plan._replace(start=starts, stop=tuple(stop), done=not state.alive), state

    def _number(self, state: StrategyState, starts: list) -> tuple:
        """Number new configurations (dicts) after the existing ones, as the ledger does,
        and count every start as running."""
        out = []
        for s in starts:
            if isinstance(s, dict):
                state.proposed.append(dict(s))
                state.latest.append(None)
                state.configs += 1
                out.append(dict(s))
                state.alive.append(state.configs - 1)
            else:
                out.append(int(s))
                state.alive.append(int(s))
        return tuple(out)

    def tell(self, state: StrategyState, reports: Sequence[Report]) -> StrategyState:
        state = copy.deepcopy(state)
        for r in reports:
            state.latest[r.config] = Report(*r)
            state.step = max(state.step, r.step)
        return state


class RandomSearch(Strategy):
    """Train every configuration for all ``steps``; stop failed ones at once.

    Example:
        >>> from optfn.sweep import RandomSearch, Report
        >>> s = RandomSearch()
        >>> state = s.init(3, steps=20, chunk_steps=10, goal="min")
        >>> plan, state = s.ask(state); plan.start
        (0, 1, 2)
        >>> state = s.tell(state, [Report(0, 10, 0.5, "ok"), Report(1, 10, float("nan"), "nan"), Report(2, 10, 0.4, "ok")])
        >>> plan, state = s.ask(state); plan.stop, plan.done
        ((Stop(config=1, reason='nan'),), False)
    """
