"""Which hyperparameters mattered: each dimension's share of the metric's variance.

The shares come from Optuna's evaluators, fed the coordinates each dimension was
sampled on rather than its raw values: ``log10(lr)`` for ``log_uniform``,
``log10(1 - beta)`` for ``one_minus_log_uniform``, the value for ``uniform`` and
``int_uniform``, the option's index for ``choice``. Optuna's fANOVA integrates over raw
units, where a learning rate's top decade would hold 90% of the range. A choice enters
as its index (an integer distribution) rather than Optuna's one-hot categorical: the
trees can still isolate every option, and on the tests' additive problem the index
recovers a choice's share better (0.035 against 0.028 of a true 0.071, 1000 trials).

The forest is an estimate: on an additive 4-dimension metric with 300 configurations
each share comes within 0.07 of the truth and about 0.1 is booked as interactions
(``tests/test_sweep_importance.py``); more configurations narrow both.

fANOVA (Hutter et al., 2014) fits a random forest ``f`` to (coordinates, metric) and
splits its variance over the uniform measure on the box::

    V = Var f = sum_d V_d + (interactions),    V_d = Var_{x_d} E[f | x_d],

so ``V_d / V`` is the share a dimension explains alone. With replicas (``seeds > 1``,
or a confirmation) the seed noise is measured apart: with ``R`` replicas of each
configuration, ``within = mean_i var_r(m_ir)`` and the shares are scaled to
``1 - within / total``, so noise is not read as importance. PED-ANOVA (Watanabe et
al., 2023) instead compares the dimensions' distributions among the best
``quantile`` of configurations with all of them: what matters among the good ones.
"""

import dataclasses
import math
from typing import Optional

import numpy as np

from ._ledger import OK


@dataclasses.dataclass(frozen=True)
class Importance:
    """The outcome of ``SweepResult.importance``.

    Attributes:
        shares: ``name -> share``, most important first. With ``"fanova"`` a share of
            the metric's variance explained by that dimension alone; with
            ``"ped_anova"`` normalised to sum to 1.
        noise: the share of the seed noise (``None`` where no replica measured it).
        interactions: what the dimensions explain only together (fANOVA), else 0.
        method: ``"fanova"`` or ``"ped_anova"``.
        trials: how many configurations entered.
        step: the training step their metric was read at.
    """

    shares: dict
    noise: Optional[float]
    interactions: float
    method: str
    trials: int
    step: int

    def order(self) -> list:
        """The dimension names, most important first."""
        return list(self.shares)

    def to_dict(self) -> dict:
        """JSON-ready."""
        return dataclasses.asdict(self)

    def __str__(self) -> str:
        rows = list(self.shares.items())
        if self.noise is not None:
            rows.append(("(seed noise)", self.noise))
        if self.method == "fanova":
            rows.append(("(interactions)", self.interactions))
        width = max(len(n) for n, _ in rows)
        what = "share of variance" if self.method == "fanova" else "PED-ANOVA importance"
        lines = [f"{'hyperparameter':<{max(width, 14)}}  {what}"]
        lines += [f"{n:<{max(width, 14)}}  {s:>6.1%}" for n, s in rows]
        lines.append(f"({self.method}, {self.trials} configurations at step {self.step})")
        return "\n".join(lines)


def coordinate(dim, value) -> float:
    """A value in the coordinates its dimension was sampled on."""
    if dim.kind == "log":
        return math.log10(value)
    if dim.kind == "one_minus_log":
        return math.log10(1 - value)
    if dim.kind == "choice":
        return float(dim.options.index(value))
    return float(value)


def _coordinate_distribution(dim):
    import optuna.distributions as od

    if dim.kind == "choice":
        return od.IntDistribution(0, len(dim.options) - 1)
    if dim.kind == "int":
        return od.IntDistribution(int(dim.low), int(dim.high))
    lo, hi = sorted((coordinate(dim, dim.low), coordinate(dim, dim.high)))
    return od.FloatDistribution(lo, hi)


def _at_step(trial, step):
    """The trial's metric at ``step`` (replica mean), or ``None`` if never evaluated there."""
    h = trial["history"]
    for s, m in zip(h["step"], h["metric"]):
        if s == step:
            return m if m is not None and math.isfinite(m) else None
    return None


def coordinate_study(space, points: list, goal: str):
    """An in-memory Optuna study of ``(hyperparams, value)`` pairs, in sampled coordinates."""
    import optuna

    dists = {n: _coordinate_distribution(d) for n, d in space.dimensions.items() if d.kind != "fixed"}
    study = optuna.create_study(direction="minimize" if goal == "min" else "maximize")
    for hp, value in points:
        params = {n: coordinate(space.dimensions[n], hp[n]) for n in dists}
        params = {n: int(v) if space.dimensions[n].kind in ("choice", "int") else v for n, v in params.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=float(value)))
    return study


def importance(result, method: str = "fanova", *, step: Optional[int] = None, quantile: float = 0.1,
               n_trees: int = 64, seed: int = 0) -> Importance:
    """See ``SweepResult.importance``."""
    fn = "SweepResult.importance"
    if method not in ("fanova", "ped_anova"):
        raise ValueError(f"{fn}: method must be 'fanova' or 'ped_anova', got method={method!r}.")
    if isinstance(n_trees, bool) or not isinstance(n_trees, int) or n_trees < 1:
        raise ValueError(f"{fn}: n_trees must be an int >= 1 (fANOVA's forest), got n_trees={n_trees!r}.")
    if not (isinstance(quantile, (int, float)) and 0 < quantile < 1):
        raise ValueError(f"{fn}: quantile must be a float in (0, 1), got quantile={quantile!r}.")
    if result.space is None:
        raise ValueError(f"{fn}: the result carries no search space; pass a result from Runner.run.")
    try:
        import optuna
    except ImportError:
        raise ImportError(f"{fn} needs optuna (and scikit-learn for fANOVA): pip install 'optfn[optuna]' "
                          "scikit-learn.") from None
    if any(len(t.get("lineage") or ()) > 1 for t in result.trials):
        raise ValueError(f"{fn}: the configurations' hyperparameters changed during training (population-based "
                         "training copies them); importance compares fixed configurations. Use a random or "
                         "halving sweep.")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space, trials = result.space, result.trials
    if getattr(result, "round_spaces", None) and any("round" in t for t in trials):
        # coarse_to_fine: the first round, sampled over the whole space (later rounds crowd
        # the zoomed box, which the forest's uniform measure would misread)
        space, trials = result.round_spaces[0], [t for t in trials if t.get("round", 1) == 1]
    ok = [t for t in trials if t["status"] == OK]
    if step is None:  # equal budget: the last step every finished configuration was evaluated at
        common = set.intersection(*(set(t["history"]["step"]) for t in ok)) if ok else set()
        step = max(common, default=0)
    points = [(t["hyperparams"], m, t) for t in ok if (m := _at_step(t, step)) is not None]
    names = [n for n, d in space.dimensions.items() if d.kind != "fixed"]
    if len(points) < 4 or not names:
        raise ValueError(f"{fn}: needs at least 4 finished configurations evaluated at step {step} and a "
                         f"searched dimension; got {len(points)}. Pass step= for an earlier evaluation.")
    study = coordinate_study(space, [(hp, m) for hp, m, _ in points], result.goal)
    if method == "ped_anova":
        evaluator = optuna.importance.PedAnovaImportanceEvaluator(target_quantile=quantile)
        raw = evaluator.evaluate(study)
        total = sum(raw.values()) or 1.0
        shares = {n: raw.get(n, 0.0) / total for n in names}
        return Importance(dict(sorted(shares.items(), key=lambda kv: -kv[1])), None, 0.0, method, len(points), step)
    raw = optuna.importance.FanovaImportanceEvaluator(n_trees=n_trees, seed=seed).evaluate(study)
    main = {n: float(raw.get(n, 0.0)) for n in names}
    noise = _noise_share(result, [t for _, _, t in points], [m for _, m, _ in points], step)
    signal = 1.0 - (noise or 0.0)
    shares = {n: v * signal for n, v in sorted(main.items(), key=lambda kv: -kv[1])}
    return Importance(shares, noise, max(0.0, 1.0 - sum(main.values())) * signal, method, len(points), step)


def _noise_share(result, trials: list, metrics: list, step: int) -> Optional[float]:
    """Seed noise over the total variance: from the replicas of configurations whose final
    evaluation is ``step`` (``seeds > 1``), else from a confirmation's replicas."""
    def within(group):
        reps = [np.asarray(t["replica_metrics"], float) for t in group
                if len(t.get("replica_metrics") or ()) > 1 and t["steps"] == step]
        reps = [r for r in reps if np.all(np.isfinite(r))]
        return (float(np.mean([r.var(ddof=1) for r in reps])), reps) if reps else (None, reps)

    noise, reps = within(trials)
    if noise is not None:  # each entry's metric is a mean of R replicas; split all replica values
        total = float(np.concatenate(reps).var(ddof=1))
    else:
        confirmed = getattr(result, "confirmed", None)
        if confirmed is None:
            return None
        noise, reps = within([t for t in confirmed.trials if t["status"] == OK])
        if noise is None:
            return None
        total = float(np.var(metrics, ddof=1))  # single-replica metrics: noise is part of their spread
    return float(min(1.0, noise / total)) if total > 0 else None


def plot(imp: Importance, path: Optional[str] = None):
    """A horizontal bar per dimension (and the noise and interaction shares)."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("SweepResult.plot_importance needs matplotlib: pip install matplotlib.") from None
    rows = list(imp.shares.items())
    if imp.noise is not None:
        rows.append(("seed noise", imp.noise))
    if imp.method == "fanova":
        rows.append(("interactions", imp.interactions))
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rows) + 1.2))
    names, values = zip(*rows[::-1])
    colours = ["0.6" if n in ("seed noise", "interactions") else "C0" for n in names]
    ax.barh(names, values, color=colours)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.0%}", va="center", fontsize=8)
    ax.set_xlim(0, max(1e-9, max(values)) * 1.2)
    ax.set_xlabel("share of the metric's variance" if imp.method == "fanova" else "PED-ANOVA importance")
    ax.set_title(f"{imp.method}: {imp.trials} configurations at step {imp.step}", fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
