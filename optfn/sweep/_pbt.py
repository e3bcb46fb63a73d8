"""Synchronous population-based training (Jaderberg et al., 2017) as a sweep strategy.

The configurations are a population trained together. Every ``interval`` chunks the
members of each structure are ranked by their latest metric (failures last); each of
the bottom ``fraction`` *exploits* a member of the top ``fraction`` drawn at random (it
takes that member's params, model and optimizer state: an on-device gather along the
trials axis) and *explores*: each numeric hyperparameter of the copy is multiplied by a
factor drawn from ``factors`` on its own scale,

* ``log_uniform``: ``v * f`` (a learning rate moves by a fixed fraction of a decade),
* ``one_minus_log_uniform``: ``1 - (1 - v) * f`` (a beta moves in ``1 - beta``),
* ``uniform``: ``v * f``,

or, with probability ``resample``, drawn afresh from its dimension; every value is then
clipped into the dimension's bounds. A traced int or choice (``traced=True``) is taken
from the source unchanged, with its weights. A member that turns NaN or diverges is replaced at
the next decision, before its interval comes. The new values are per-trial program
arguments, so nothing recompiles.

Every member's *lineage* (step, copied from, hyperparameters) is kept by the runner's
ledger; ``SweepResult.schedule(id)`` turns it into the schedule the member's final
weights were trained with.
"""

import dataclasses
import math

import numpy as np

from ._ledger import OK, rank
from ._strategy import Plan, Stop, Strategy, StrategyState


@dataclasses.dataclass
class PBTState(StrategyState):
    hp: list = dataclasses.field(default_factory=list)  # each member's numeric hyperparameters now
    structure: list = dataclasses.field(default_factory=list)  # each member's group (ranked together)


class PopulationBasedTraining(Strategy):
    """Exploit (copy the best members' weights) and explore (perturb their hyperparameters).

    Args:
        interval: chunks between exploit-and-explore decisions.
        fraction: the share of each structure's members copied (bottom) and copied from
            (top), in ``(0, 0.5]``; at least one member each.
        factors: the multipliers explore draws from, each on the dimension's own scale.
        resample: the probability that explore draws a value afresh instead.
        seed: the seed of the strategy's own draws (sources, factors, resampling), which
            depend only on it and the step, so a resumed run takes the same decisions.

    Example:
        >>> from optfn import sweep
        >>> space = sweep.Space({"lr": sweep.log_uniform(1e-3, 1.0)})
        >>> pbt = sweep.PopulationBasedTraining(interval=1, fraction=0.5, factors=(0.5,), resample=0.0)
        >>> pbt.prepare(space, [{"lr": 0.1}, {"lr": 0.01}])
        >>> state = pbt.init(2, steps=30, chunk_steps=10, goal="min")
        >>> plan, state = pbt.ask(state)
        >>> state = pbt.tell(state, [sweep.Report(0, 10, 0.2, "ok"), sweep.Report(1, 10, 0.9, "ok")])
        >>> plan, state = pbt.ask(state); plan.clone  # member 1 copies member 0, lr 0.1 * 0.5
        ((1, 0, {'lr': 0.05}),)
    """

    def __init__(self, interval: int = 1, fraction: float = 0.25, factors=(0.8, 1.25), resample: float = 0.25,
                 seed: int = 0):
        fn = "PopulationBasedTraining"
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"{fn}: interval must be a positive int (chunks between decisions), got "
                             f"interval={interval!r}.")
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 0.5:
            raise ValueError(f"{fn}: fraction must be in (0, 0.5] (the bottom share copies the top share), got "
                             f"fraction={fraction!r}.")
        factors = tuple(factors) if isinstance(factors, (list, tuple)) else factors
        if not isinstance(factors, tuple) or not factors or not all(
                isinstance(f, (int, float)) and not isinstance(f, bool) and math.isfinite(f) and f > 0
                for f in factors):
            raise ValueError(f"{fn}: factors must be a non-empty tuple of positive numbers, e.g. (0.8, 1.25), got "
                             f"factors={factors!r}.")
        if isinstance(resample, bool) or not isinstance(resample, (int, float)) or not 0 <= resample <= 1:
            raise ValueError(f"{fn}: resample must be a probability in [0, 1], got resample={resample!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{fn}: seed must be an int >= 0, got seed={seed!r}.")
        self.interval, self.fraction, self.factors = interval, float(fraction), tuple(float(f) for f in factors)
        self.resample, self.seed = float(resample), seed
        self.groups = None

    def __repr__(self) -> str:
        return (f"PopulationBasedTraining(interval={self.interval}, fraction={self.fraction}, "
                f"factors={self.factors}, resample={self.resample}, seed={self.seed})")

    State = PBTState
    stop_failures = False  # a failed member is replaced at the next decision

    def init(self, configs: int, steps: int, chunk_steps: int, goal: str) -> PBTState:
        """Members of one of ``prepare``'s ``groups`` (configurations that share programs)
        are ranked together, and a copy takes the source's sizes with its weights; without
        groups, each structure is its own group."""
        if self.space is None:
            raise ValueError("PopulationBasedTraining: prepare(space, hyperparams) must come before init; "
                             "Runner.run does it.")
        names = self.space.traced_names  # the per-trial values; the rest is the structure
        structure = self.groups or [repr(sorted((k, repr(v)) for k, v in h.items() if k not in names))
                                    for h in self.hyperparams]
        kept = {k: (int if self.space[k].dtype.kind == "i" else float) for k in names}
        return PBTState(configs=configs, steps=steps, chunk_steps=chunk_steps, goal=goal,
                        hp=[{k: kept[k](h[k]) for k in names} for h in self.hyperparams], structure=structure)

    def decide(self, state: PBTState, running: list) -> Plan:
        due = state.step > 0 and state.step % (self.interval * state.chunk_steps) == 0
        rng = np.random.default_rng([self.seed, state.step])
        clones, stop = [], []
        for group in sorted(set(state.structure[c] for c in running)):
            members = [c for c in running if state.structure[c] == group]
            reports = [state.latest[c] for c in members if state.latest[c] is not None]
            order = rank(reports, state.goal)
            failed = [r.config for r in reports if r.status != OK or not math.isfinite(r.metric)]
            healthy = [c for c in order if c not in failed]
            if not healthy:  # nothing to copy from: the failed members stop
                stop += [Stop(c, state.latest[c].status) for c in failed]
                continue
            q = max(1, int(len(members) * self.fraction))
            bottom = list(failed) if not due else list(dict.fromkeys(failed + order[-q:]))
            top = [c for c in healthy[:q] if c not in bottom]
            if not top:
                continue
            for dst in bottom:
                src = top[int(rng.integers(len(top)))]
                hp = self._explore(state.hp[src], rng)
                clones.append((dst, src, hp))
        for dst, src, hp in clones:
            state.hp[dst] = dict(hp)
            state.latest[dst] = state.latest[src]._replace(config=dst)
        return Plan(stop=tuple(stop), clone=tuple(clones))

    def _explore(self, hp: dict, rng) -> dict:
        # a traced int or choice (traced=True) is copied from the source with its weights
        out = {k: hp[k] for k in self.space.traced_names if not self.space[k].numeric}
        for name in self.space.numeric_names:
            dim, v = self.space.dimensions[name], hp[name]
            if rng.random() < self.resample:
                new = float(dim.from_unit(rng.random()))
            else:
                f = self.factors[int(rng.integers(len(self.factors)))]
                new = 1 - (1 - v) * f if dim.kind == "one_minus_log" else v * f
            out[name] = float(np.clip(new, dim.low, dim.high))
        return out
