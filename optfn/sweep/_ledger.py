"""The ledger: every trial's history and status, replicas averaged, one NaN-last ranking.

A *configuration* is one set of hyperparameters; with ``seeds=k`` it trains as ``k``
*trials* (replicas with their own keys), numbered ``config * k + replica``. The ledger
records each trial's evaluations, decides its status, and aggregates the replicas of a
configuration into the mean metric that strategies, ``best()`` and ``top()`` rank by.

Status rules, applied to each trial after every evaluation:

* ``"nan"``: a non-finite training loss or metric, at any point (step 0 included);
* ``"diverged"``: a chunk's mean training loss above ``diverge_factor`` times the
  trial's loss at step 0 (measured before any update, so a blow-up inside the first
  chunk is caught); the rule applies when the step-0 loss is positive;
* ``"ok"`` otherwise. A configuration is ``"ok"`` only when all its replicas are.
"""

import dataclasses
import math
from typing import NamedTuple, Optional, Sequence

import numpy as np

OK, NAN, DIVERGED = "ok", "nan", "diverged"


class Report(NamedTuple):
    """What a strategy sees of a configuration after an evaluation."""

    config: int  # index into the sweep's configurations
    step: int  # steps trained so far
    metric: float  # mean over the configuration's replicas
    status: str  # "ok", "nan" or "diverged"


@dataclasses.dataclass(frozen=True)
class Copy:
    """One entry of a trial's lineage: after ``step`` steps it took configuration
    ``source``'s weights and trains on with ``hyperparams`` (the source's sizes included)."""

    step: int
    source: int
    hyperparams: dict
    reason: str = "exploited"  # why the old weights went: "exploited", "nan"/"diverged" (replaced), "schedule"

    @classmethod
    def from_json(cls, entry) -> "Copy":
        return cls(**entry) if isinstance(entry, dict) else cls(*entry)  # a list in older checkpoints


def rank(reports: Sequence[Report], goal: str) -> list:
    """Configurations best first: finite ``"ok"`` metrics by ``goal``, every failure last.

    Ties keep the order of ``reports``, so the ranking is deterministic.

    Example:
        >>> from optfn import sweep
        >>> rs = [sweep.Report(0, 10, 0.3, "ok"), sweep.Report(1, 10, float("nan"), "nan"), sweep.Report(2, 10, 0.1, "ok")]
        >>> sweep.rank(rs, "min")
        [2, 0, 1]
    """
    sign = 1.0 if goal == "min" else -1.0

    def key(r):
        bad = r.status != OK or not math.isfinite(r.metric)
        return (bad, 0.0 if bad else sign * r.metric)

    return [r.config for r in sorted(reports, key=key)]


class Ledger:
    """Histories and statuses of ``configs * seeds`` trials; plain data, so checkpoints store it.

    Args:
        configs: number of configurations.
        seeds: replicas per configuration.
        diverge_factor: see the module docstring.
    """

    def __init__(self, configs: int, seeds: int, diverge_factor: float):
        self.configs, self.seeds, self.diverge_factor = configs, seeds, float(diverge_factor)
        n = configs * seeds
        self.history = [{"step": [], "loss": [], "metric": []} for _ in range(n)]
        self.status = [OK] * n
        self.loss0 = [None] * n
        self.stopped = [None] * n  # steps trained when the trial stopped; None while it runs
        self.reason = [None] * n  # why it stopped (``_strategy.REASONS``)
        self.trial_steps = 0
        self.lineage = [[] for _ in range(n)]  # a Copy per clone

    def trials_of(self, config: int) -> range:
        return range(config * self.seeds, (config + 1) * self.seeds)

    def record(self, trial: int, step: int, losses, metric: float, metrics: Optional[dict] = None) -> None:
        """One evaluation of ``trial`` after ``step`` steps; ``losses`` are the chunk's
        training losses (at step 0: the loss of the initial parameters); ``metrics`` every
        entry of a dict ``evaluate`` returned (the ranked one included)."""
        losses = np.asarray(losses, np.float64).reshape(-1)
        mean = float(np.mean(losses))
        h = self.history[trial]
        h["step"].append(int(step))
        h["loss"].append(mean)
        h["metric"].append(float(metric))
        for name, value in (metrics or {}).items():
            h.setdefault("metrics", {}).setdefault(name, []).append(float(value))
        if step == 0:
            self.loss0[trial] = mean
        else:
            self.trial_steps += len(losses)
        if self.status[trial] != OK:
            return
        if not (np.all(np.isfinite(losses)) and math.isfinite(metric)):
            self.status[trial] = NAN
        elif step > 0 and self.loss0[trial] > 0 and mean > self.diverge_factor * self.loss0[trial]:
            self.status[trial] = DIVERGED

    def report(self, config: int) -> Report:
        """The configuration's latest evaluation, averaged over its replicas."""
        trials = self.trials_of(config)
        statuses = [self.status[t] for t in trials]
        status = next((s for s in statuses if s != OK), OK)
        last = [self.history[t]["metric"][-1] for t in trials]
        step = self.history[trials[0]]["step"][-1]
        metric = float(np.mean(last)) if all(math.isfinite(m) for m in last) else float("nan")
        return Report(config, step, metric, status)

    def clone(self, dst: int, src: int, step: int, source_config: int, hyperparams: dict,
              reason: str = "exploited") -> None:
        """Trial ``dst`` took trial ``src``'s weights after ``step`` steps, and trains on with
        ``hyperparams``: its status and step-0 loss (the divergence reference) become the
        source's, and the copy joins its lineage."""
        self.status[dst], self.loss0[dst] = self.status[src], self.loss0[src]
        self.lineage[dst].append(Copy(int(step), int(source_config), dict(hyperparams), reason))

    def stop(self, config: int, step: int, reason: str) -> None:
        for t in self.trials_of(config):
            if self.stopped[t] is None:
                self.stopped[t], self.reason[t] = int(step), str(reason)

    def add(self, configs: int) -> None:
        """Room for ``configs`` more configurations (a strategy proposed them), numbered next."""
        n = configs * self.seeds
        self.history += [{"step": [], "loss": [], "metric": []} for _ in range(n)]
        self.status += [OK] * n
        self.loss0 += [None] * n
        self.stopped += [None] * n
        self.reason += [None] * n
        self.lineage += [[] for _ in range(n)]
        self.configs += configs

    def state(self) -> dict:
        """Plain data for a checkpoint."""
        out = {k: getattr(self, k) for k in ("history", "status", "loss0", "stopped", "reason", "trial_steps")}
        return {**out, "lineage": [[dataclasses.asdict(c) for c in copies] for copies in self.lineage]}

    @classmethod
    def from_state(cls, configs: int, seeds: int, diverge_factor: float, state: dict) -> "Ledger":
        ledger = cls(configs, seeds, diverge_factor)
        ledger.add(len(state["status"]) // seeds - configs)  # configurations proposed during the run
        for k, v in state.items():
            setattr(ledger, k, v)
        ledger.lineage = [[Copy.from_json(c) for c in copies] for copies in ledger.lineage]
        return ledger

    def configuration(self, config: int) -> dict:
        """The configuration's outcome: mean metric over replicas, their spread, history."""
        trials = self.trials_of(config)
        finals = [self.history[t]["metric"][-1] if self.history[t]["metric"] else float("nan") for t in trials]
        n = min(len(self.history[t]["step"]) for t in trials)
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf in a blown-up trial's mean
            history = {key: [float(np.mean([self.history[t][key][j] for t in trials])) for j in range(n)]
                       for key in ("loss", "metric")}
        history["step"] = list(self.history[trials[0]]["step"][:n])
        statuses = [self.status[t] for t in trials]
        finite = all(math.isfinite(m) for m in finals)
        extra = {}
        names = self.history[trials[0]].get("metrics", {})
        if names:  # a dict evaluate: each entry, replica means, as the ranked metric
            with np.errstate(invalid="ignore", over="ignore"):
                history["metrics"] = {k: [float(np.mean([self.history[t]["metrics"][k][j] for t in trials]))
                                          for j in range(n)] for k in names}
                extra["metrics"] = {k: float(np.mean([self.history[t]["metrics"][k][-1] for t in trials]))
                                    for k in names}
        return {**extra,
            "status": next((s for s in statuses if s != OK), OK),
            "metric": float(np.mean(finals)) if finite else float("nan"),
            "metric_std": float(np.std(finals)) if finite else float("nan"),
            "replica_metrics": finals,
            "replica_status": statuses,
            "steps": self.stopped[trials[0]] if self.stopped[trials[0]] is not None else 0,
            **({"stop": self.reason[trials[0]]} if self.reason[trials[0]] else {}),
            "history": history,
        }
