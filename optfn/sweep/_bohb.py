"""BOHB (Falkner et al., 2018): halving whose new configurations a model proposes.

``AsyncHalving`` starts the next configuration of a pool sampled up front in every row
a stop frees. BOHB starts a *proposed* one instead: a model fitted to the results so far
(Optuna's TPE by default, through its ask-and-tell interface). The model sees every
configuration with a result: one that trained to the end as a finished trial, one
stopped at a rung (or still training) as a pruned trial with its metric at each rung it
reached, which TPE ranks by how far it got and then by that metric, Optuna's own way of
combining TPE with Hyperband. BOHB's one KDE per budget sees only the configurations
that reached the budget; those are halving's survivors, so the model would see only
good ones, and TPE, given only good points, explores away from them. A share
``random_fraction`` of the starts are still drawn from the pool (the paper keeps a third
random), and so are all of them until ``min_points`` configurations have a result.

Each proposal batch fits a fresh in-memory study from the observations, with a sampler
seeded by ``(seed, proposals so far)``, so a resumed run proposes exactly the same
configurations. TPE's ``constant_liar`` keeps a batch's proposals apart. The run starts
the pool's size of configurations in all, as ``AsyncHalving``; the pool entries it did
not need are not results. Needs ``pip install optuna`` (the ``"gp"`` sampler needs
PyTorch as well).

``optfn.integrations.optuna.optimize`` remains for a study of one's own (its storage,
dashboard and any sampler), proposing whole batches between runs.
"""

import dataclasses
import math

import numpy as np

from ._async_halving import AsyncHalving, AsyncHalvingState
from ._ledger import OK


@dataclasses.dataclass
class BOHBState(AsyncHalvingState):
    proposals: int = 0  # model proposal batches so far (seeds the sampler of the next)


class BOHB(AsyncHalving):
    """AsyncHalving whose freed rows start configurations a model of the results proposes.

    Args:
        eta, min_steps, concurrent, total_steps: as ``AsyncHalving``.
        sampler: ``"tpe"`` (Optuna's TPE, multivariate, with constant liar) or ``"gp"``
            (Optuna's Gaussian-process sampler).
        random_fraction: the share of starts drawn from the pool instead, in ``[0, 1]``.
        min_points: configurations with a result before the model proposes any
            (default: the number of hyperparameters + 2).
        seed: seeds the strategy's draws and its sampler.

    Example:
        >>> from optfn.sweep import BOHB
        >>> BOHB(3, concurrent=8)
        BOHB(eta=3, min_steps=None, concurrent=8, sampler='tpe', random_fraction=0.3333333333333333, min_points=None, seed=0)
    """

    State = BOHBState

    def __init__(self, eta: int = 3, min_steps=None, concurrent=None, sampler: str = "tpe",
                 random_fraction: float = 1 / 3, min_points=None, seed: int = 0, total_steps=None):
        super().__init__(eta, min_steps, concurrent, total_steps)
        fn = "BOHB"
        if sampler not in ("tpe", "gp"):
            raise ValueError(f"{fn}: sampler must be 'tpe' or 'gp', got sampler={sampler!r}.")
        if isinstance(random_fraction, bool) or not isinstance(random_fraction, (int, float)) or \
                not 0 <= random_fraction <= 1:
            raise ValueError(f"{fn}: random_fraction must be in [0, 1], got random_fraction={random_fraction!r}.")
        if min_points is not None and (isinstance(min_points, bool) or not isinstance(min_points, int) or
                                       min_points < 2):
            raise ValueError(f"{fn}: min_points must be an int >= 2 or None, got min_points={min_points!r}.")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"{fn}: seed must be an int >= 0, got seed={seed!r}.")
        try:
            import optuna  # noqa: F401
        except ImportError:
            raise ImportError("BOHB proposes with Optuna's samplers: pip install optuna.") from None
        self.sampler, self.random_fraction, self.min_points, self.seed = sampler, float(random_fraction), \
            min_points, seed

    def __repr__(self) -> str:
        return (f"BOHB(eta={self.eta}, min_steps={self.min_steps}, concurrent={self.concurrent}, "
                f"sampler={self.sampler!r}, random_fraction={self.random_fraction}, min_points={self.min_points}, "
                f"seed={self.seed}{self._cap()})")

    def hyperparams_of(self, state: BOHBState, config: int) -> dict:
        """Configuration ``config``'s hyperparameters: the pool's, or a proposal's."""
        return self.hyperparams[config] if config < state.pool else state.proposed[config - state.pool]

    def propose(self, state: BOHBState, k: int) -> list:
        k = min(k, state.pool - state.launched)  # the pool's size of configurations in all
        rng = np.random.default_rng([self.seed, state.launched])
        modelled = int(sum(rng.random(k) >= self.random_fraction)) if self._ready(state) else 0
        from_pool = list(range(state.next, min(state.pool, state.next + k - modelled)))
        modelled = k - len(from_pool)  # the pool may run out first: the model proposes the rest
        state.next += len(from_pool)
        state.launched += k
        return from_pool + (self._ask(state, modelled) if modelled else [])

    def _ready(self, state: BOHBState) -> bool:
        """Whether the model has enough to go on: ``min_points`` configurations with a result."""
        need = self.min_points or sum(d.kind != "fixed" for d in self.space.dimensions.values()) + 2
        seen = {c for rung in state.seen for c, m, s in rung if s == OK and math.isfinite(m)}
        return len(seen) >= need

    def _ask(self, state: BOHBState, k: int) -> list:
        import optuna

        from ..integrations.optuna import _hyperparams, _one_minus, distributions

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = (self.seed * 1_000_003 + state.proposals) % 2 ** 31
        state.proposals += 1
        if self.sampler == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=0, multivariate=True,
                                                 constant_liar=True)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed, n_startup_trials=0)
        study = optuna.create_study(direction="minimize" if state.goal == "min" else "maximize", sampler=sampler)
        dists = distributions(self.space)
        marks = state.rungs + [state.steps]
        curves, failed = {}, set()  # config -> {step: metric at each rung it reached (and the end)}
        for mark, rung in zip(marks, state.seen):
            for c, metric, status in rung:
                if status != OK or not math.isfinite(metric):
                    failed.add(c)
                else:
                    curves.setdefault(c, {})[mark] = float(metric)
        for c, curve in curves.items():
            if c in failed:
                continue
            hp = self.hyperparams_of(state, c)
            params = {}
            for name, d in self.space.dimensions.items():
                if d.kind == "one_minus_log":
                    params[_one_minus(name)] = 1.0 - float(hp[name])
                elif d.kind != "fixed":
                    params[name] = hp[name]
            if state.steps in curve:  # trained to the end
                trial = optuna.trial.create_trial(params=params, distributions=dists, value=curve[state.steps],
                                                  intermediate_values=curve)
            else:  # stopped at a rung, or still training: TPE ranks it by how far it got, then its metric
                trial = optuna.trial.create_trial(params=params, distributions=dists, intermediate_values=curve,
                                                  state=optuna.trial.TrialState.PRUNED)
            study.add_trial(trial)
        return [_hyperparams(self.space, study.ask(dists).params) for _ in range(k)]
