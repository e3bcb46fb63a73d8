"""Sweep strategies: decisions taken on the host between chunks, in ask/tell style.

The runner's loop is::

    strategy.prepare(space, hyperparams)      # optional: the space and the sampled values
    state = strategy.init(configs, steps, chunk_steps, goal)
    while True:
        plan, state = strategy.ask(state)     # start these, stop those, clone some
        apply the plan to the blocks          # init + step-0 evaluation / drop rows / copy rows
        if plan.done: break
        train every running trial one chunk, evaluate, record in the ledger
        state = strategy.tell(state, reports) # one Report per running configuration

A strategy of one's own needs ``init``, ``ask`` and ``tell``; its ``repr`` names it in
checkpoints. A strategy works on *configurations* (a configuration's replicas start and stop
together, and its report carries their mean metric). Its state is plain data (lists,
numbers, strings), so a checkpoint stores it as JSON and a resumed sweep takes the
same decisions. ``RandomSearch`` trains every configuration to the end;
``SuccessiveHalving`` keeps the best ``1/eta`` at each rung. Both stop a failed
configuration (``"nan"`` or ``"diverged"``) at once. ``PopulationBasedTraining`` clones:
the worst configurations take the best ones' weights and new hyperparameters.
"""

from typing import NamedTuple, Protocol, Sequence

from ._ledger import OK, Report


class Plan(NamedTuple):
    """What the runner does next: start configurations, stop others, or finish."""

    start: tuple = ()  # configurations to initialise (and evaluate at step 0), then train
    stop: tuple = ()  # configurations to stop now; their results are kept
    done: bool = False  # nothing left to train
    # (dst, src, hyperparams): running configuration dst takes src's params, model and
    # optimizer state (replica r from replica r, same structure) and trains on with the
    # numeric hyperparameters given (a dict; names left out keep their values)
    clone: tuple = ()


class Strategy(Protocol):
    """The interface the runner drives; see the module docstring."""

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> dict: ...

    def ask(self, state: dict) -> tuple: ...

    def tell(self, state: dict, reports: Sequence[Report]) -> dict: ...

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        """Optional: how many configurations train in the last phase (the runner sizes its
        programs by it; without it, by all of them)."""
        ...

    def prepare(self, space, hyperparams: Sequence[dict]) -> None:
        """Optional: called before ``init`` with the sweep's ``Space`` and every
        configuration's sampled hyperparameters (a strategy that explores needs them)."""
        ...


class RandomSearch:
    """Train every configuration for all ``steps``; stop failed ones at once.

    Example:
        >>> from optfn.sweep import RandomSearch, Report
        >>> s = RandomSearch()
        >>> state = s.init(3, steps=20, chunk_steps=10, goal="min")
        >>> plan, state = s.ask(state); plan.start
        (0, 1, 2)
        >>> state = s.tell(state, [Report(0, 10, 0.5, "ok"), Report(1, 10, float("nan"), "nan"), Report(2, 10, 0.4, "ok")])
        >>> plan, state = s.ask(state); plan.stop, plan.done
        ((1,), False)
    """

    def __repr__(self) -> str:  # checkpoints compare strategies by their repr
        return "RandomSearch()"

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> dict:
        return {"configs": configs, "steps": steps, "goal": goal, "step": 0, "started": False,
                "alive": [], "latest": [None] * configs}

    def final_alive(self, configs: int, steps: int, chunk_steps: int) -> int:
        return configs

    def ask(self, state: dict) -> tuple:
        state = dict(state)
        if not state["started"]:
            state["started"], state["alive"] = True, list(range(state["configs"]))
            return Plan(start=tuple(state["alive"])), state
        stop = [c for c in state["alive"] if state["latest"][c] is not None and state["latest"][c][2] != OK]
        stop += self._cut(state, [c for c in state["alive"] if c not in stop])
        done = state["step"] >= state["steps"]
        if done:
            stop = list(state["alive"])
        state["alive"] = [c for c in state["alive"] if c not in stop]
        return Plan(stop=tuple(stop), done=done or not state["alive"]), state

    def _cut(self, state: dict, alive: list) -> list:
        """Configurations to stop for the strategy's own reasons (none here)."""
        return []

    def tell(self, state: dict, reports: Sequence[Report]) -> dict:
        state = dict(state, latest=list(state["latest"]))
        for r in reports:
            state["latest"][r.config] = [r.step, r.metric, r.status]
            state["step"] = max(state["step"], r.step)
        return state
