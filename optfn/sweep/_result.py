"""The outcome of a sweep: every trial's hyperparameters, history and status."""

import json
import math
import numbers
from typing import Optional

import numpy as np

from . import _importance, _lineage, _plot
from ._ledger import OK


def _sort_key(goal: str):
    def key(trial):
        m = trial["metric"]
        bad = trial["status"] != OK or m is None or not math.isfinite(m)
        return (bad, 0.0 if bad else (m if goal == "min" else -m))

    return key


def _plain(value):
    """JSON-safe: NaN and infinities become ``None`` (standard JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return _plain(value.item())
    return value


class SweepResult:
    """Configurations of a sweep, ranked by their mean final metric; failures rank last.

    Each entry of ``trials`` is one configuration (hyperparameter set), a dict: ``id``,
    ``hyperparams``, ``status`` (``"ok"``, ``"nan"`` or ``"diverged"``; ``"ok"`` only if
    every replica is), ``metric`` (the last evaluation, mean over the ``seeds``
    replicas), ``metric_std`` and ``replica_metrics`` (the spread), ``steps`` (how far it
    trained: fewer when a strategy stopped it) and ``history`` (``step``, ``loss``,
    ``metric`` lists, replica means, one entry per evaluation; the first is step 0,
    before any update). With population-based training, ``hyperparams`` are the sampled
    values and ``lineage`` lists the copies (``schedule``, ``lineage``).

    Attributes:
        trials: the configuration dicts, in id order.
        goal: ``"min"`` or ``"max"``: which way the metric improves.
        trial_steps: optimizer steps summed over trials and replicas (the compute used).
        row_steps: steps summed over every row the programs computed, padding and rows
            left idle by stopped trials included; ``trial_steps / row_steps`` is how busy
            the hardware was (1.0: no row ever idle).
        timings: seconds spent compiling (``compile``), training and evaluating
            (``train``: the evaluation runs inside the training programs), and planning
            which structures share programs (``plan``: shape tracing and the padding probe).
        space: the ``Space`` the configurations came from (``Runner.confirm`` needs it).
        seeds: replicas per configuration.
        width: trials per compiled program in the run that produced it.
        confirmed: with ``coarse_to_fine``, the retrained best configurations.

    Example:
        >>> from optfn import sweep
        >>> trial = lambda i, m, status="ok": {"id": i, "hyperparams": {"lr": 10.0 ** -i}, "status": status,
        ...                                    "metric": m, "steps": 10, "history": {"step": [10], "loss": [m], "metric": [m]}}
        >>> result = sweep.SweepResult([trial(0, 0.3), trial(1, float("nan"), "nan"), trial(2, 0.1)])
        >>> [t["id"] for t in result.top(3)]  # NaN-safe: the failed trial is left out
        [2, 0]
    """

    def __init__(self, trials: list, goal: str = "min", trial_steps: int = 0, *, timings: Optional[dict] = None,
                 space=None, root=None, seeds: int = 1, width: Optional[int] = None, row_steps: int = 0):
        self.trials = sorted(trials, key=lambda t: t["id"])
        self.goal = goal
        self.trial_steps, self.row_steps = int(trial_steps), int(row_steps)
        self.timings = dict(timings or {})
        self.space, self.root, self.seeds, self.width = space, root, seeds, width
        self.confirmed: Optional["SweepResult"] = None  # set by coarse_to_fine
        self.models: dict = {}  # (id, replica) -> trained params (or (params, model_state))
        self.round_spaces: list = []  # coarse_to_fine: each round's space
        self.budget_spent = False  # a time budget stopped the run (run(time_budget=))

    def __len__(self) -> int:
        return len(self.trials)

    def __repr__(self) -> str:
        best = self.best()
        summary = f"best metric {best['metric']:.4g} (trial {best['id']})" if best else "no finished trial"
        return f"SweepResult({len(self.trials)} trials, {summary}, {self.trial_steps} trial-steps)"

    def params(self, trial_id: int, replica: int = 0):
        """The trained params of configuration ``trial_id`` (its replica ``replica``), as plain
        unstacked NumPy pytrees on the host: ``params``, or ``(params, model_state)`` for a
        runner with ``has_state``. A trial stopped early (halving, a blow-up) returns its
        params at the stop.

        Example:
            >>> import jax, jax.numpy as jnp, optfn
            >>> from optfn import sweep
            >>> x = jax.random.normal(jax.random.key(0), (64, 2)); y = x @ jnp.array([2.0, -1.0])
            >>> runner = sweep.Runner(init=lambda k, hp: jnp.zeros(2), loss=lambda w, b: jnp.mean((b["x"] @ w - b["y"]) ** 2),
            ...                       optimizer=lambda hp: optfn.sgd(hp["lr"]), data={"x": x, "y": y}, steps=100,
            ...                       chunk_steps=50, batch_size=16)
            >>> result = runner.run(sweep.Space({"lr": sweep.log_uniform(0.01, 0.3)}), 4)
            >>> print(result.best_params().round(2))
            [ 2. -1.]
        """
        key = (int(trial_id), int(replica))
        if key not in self.models:
            have = sorted({i for i, _ in self.models})
            raise KeyError(f"SweepResult.params: no params kept for trial {trial_id} replica {replica}; kept: "
                           f"{have[:10]}{' ...' if len(have) > 10 else ''} (run with keep=None to keep all).")
        return self.models[key]

    def best_params(self, replica: int = 0):
        """``params(...)`` of the best configuration (``best()``)."""
        best = self.best()
        if best is None:
            raise ValueError("SweepResult.best_params: no trial finished (all diverged or NaN).")
        return self.params(best["id"], replica)

    def schedule(self, trial_id: int) -> dict:
        """The hyperparameter schedule that configuration ``trial_id``'s final weights were
        trained with: ``name -> optfn schedule`` for each numeric hyperparameter.

        With population-based training the weights a member ends with were trained by the
        members that held them before each copy; the schedule follows those copies back
        (piecewise constant, a new piece at each copy). Passed to
        ``optfn.inject_hyperparams``, it replays the training as one plain optimizer.
        Without copies it is a constant per hyperparameter.

        Example:
            >>> from optfn import sweep
            >>> trials = [{"id": 0, "hyperparams": {"lr": 0.1}, "status": "ok", "metric": 0.5, "steps": 20,
            ...            "history": {"step": [0, 20], "loss": [1, 0.5], "metric": [1, 0.5]}},
            ...           {"id": 1, "hyperparams": {"lr": 0.3}, "status": "ok", "metric": 0.2, "steps": 20,
            ...            "history": {"step": [0, 20], "loss": [1, 0.2], "metric": [1, 0.2]},
            ...            "lineage": [{"step": 0, "from": None, "hyperparams": {"lr": 0.3}},
            ...                        {"step": 10, "from": 0, "hyperparams": {"lr": 0.05}}]}]
            >>> lr = sweep.SweepResult(trials).schedule(1)["lr"]  # member 0's lr, then 0.05
            >>> tuple(round(float(lr(t)), 3) for t in (0, 9, 10, 19))
            (0.1, 0.1, 0.05, 0.05)
        """
        by_id = {t["id"]: t for t in self.trials}
        if trial_id not in by_id:
            raise KeyError(f"SweepResult.schedule: no configuration {trial_id!r}; ids run "
                           f"{min(by_id)}..{max(by_id)}.")
        first = by_id[trial_id]["hyperparams"]
        numeric = self.space.numeric_names if self.space is not None else [
            k for k, v in first.items() if isinstance(v, float)]
        return _lineage.schedule(by_id, trial_id, numeric)

    def lineage(self) -> list:
        """Every configuration's lineage as rows (``id``, ``step``, ``from``, then the
        hyperparameters it trained with from that step on); one row at step 0 for a
        configuration never replaced. ``to_dataframe(lineage=True)`` gives them as a frame."""
        return _lineage.rows(self.trials)

    def plot_schedules(self, path: Optional[str] = None, space=None):
        """Each numeric hyperparameter's schedule over the steps (``schedule``), one line
        per configuration, coloured by final rank (dark: best); log axes for
        ``log_uniform`` and, as ``1 - beta``, for ``one_minus_log_uniform`` dimensions.
        Needs matplotlib. Returns the figure; saves it to ``path`` when given."""
        return _lineage.plot(self, path, space)

    def importance(self, method: str = "fanova", *, step: Optional[int] = None, quantile: float = 0.1,
                   n_trees: int = 64, seed: int = 0) -> "_importance.Importance":
        """Which hyperparameters mattered: each dimension's share of the metric's variance,
        in the coordinates it was sampled on (``log10`` for ``log_uniform``, ``log10(1 -
        beta)`` for ``one_minus_log_uniform``, the option's index for ``choice``).

        ``"fanova"`` (default) gives the share each dimension explains alone, the share
        of interactions, and, where replicas measured it (``seeds > 1``, or
        ``coarse_to_fine``'s confirmation), the seed noise as its own share. It uses
        Optuna's fANOVA evaluator (a scikit-learn forest) on those coordinates.
        ``"ped_anova"`` compares the best ``quantile`` of configurations with all: what
        matters among the good ones. Needs optuna (and scikit-learn for fANOVA).

        Args:
            method: ``"fanova"`` or ``"ped_anova"``.
            step: the evaluation step to compare configurations at; by default the last
                step every finished configuration reached (equal budget: under halving
                that is the first rung). With ``coarse_to_fine`` the first round enters
                (sampled over the whole space); PBT results are refused (their
                hyperparameters change as they train).
            quantile: PED-ANOVA's share of best configurations.
            n_trees, seed: fANOVA's forest.

        Example:
            >>> from optfn import sweep
            >>> space = sweep.Space({"lr": sweep.log_uniform(1e-4, 1.0), "wd": sweep.uniform(0.0, 1.0)})
            >>> hps = space.sample(64, seed=0)
            >>> import math
            >>> trials = [{"id": i, "hyperparams": h, "status": "ok", "steps": 1, "metric": m,
            ...            "history": {"step": [1], "loss": [m], "metric": [m]}}
            ...           for i, h in enumerate(hps) for m in [(math.log10(h["lr"]) + 2) ** 2 + 0.1 * h["wd"]]]
            >>> sweep.SweepResult(trials, space=space).importance(n_trees=16).order()
            ['lr', 'wd']
        """
        return _importance.importance(self, method, step=step, quantile=quantile, n_trees=n_trees, seed=seed)

    def plot_importance(self, path: Optional[str] = None, **kwargs):
        """A bar chart of ``importance(**kwargs)``; saved to ``path`` when given. Needs matplotlib."""
        return _importance.plot(self.importance(**kwargs), path)

    def to_optuna(self, storage=None, study_name: Optional[str] = None):
        """An Optuna study holding these configurations (``optfn.integrations.optuna.to_study``):
        distributions on their scale, histories as intermediate values, stopped-early
        trials pruned, ``nan``/``diverged`` ones failed. ``storage`` is an Optuna storage
        or URL (``"sqlite:///sweep.db"``); ``None`` keeps it in memory. Needs optuna."""
        try:
            from ..integrations.optuna import to_study
        except ImportError:
            raise ImportError("SweepResult.to_optuna needs optuna: pip install 'optfn[optuna]'.") from None
        return to_study(self, storage, study_name)

    def top(self, k: int = 10) -> list:
        """The ``k`` best trials that finished with a finite metric, best first."""
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
            raise ValueError(f"SweepResult.top: k must be an int >= 0, got k={k!r}.")
        ranked = sorted(self.trials, key=_sort_key(self.goal))
        return [t for t in ranked if t["status"] == OK and t["metric"] is not None and math.isfinite(t["metric"])][:k]

    def best(self) -> Optional[dict]:
        """The best trial, or ``None`` when none finished (NaN-safe)."""
        top = self.top(1)
        return top[0] if top else None

    def history(self, key: str = "metric") -> np.ndarray:
        """``(trials, evaluations)`` array of ``"metric"`` or ``"loss"``, NaN after a trial stopped."""
        n = max((len(t["history"][key]) for t in self.trials), default=0)
        out = np.full((len(self.trials), n), np.nan)
        for i, t in enumerate(self.trials):
            out[i, : len(t["history"][key])] = t["history"][key]
        return out

    def to_dicts(self) -> list:
        """Plain dicts (JSON-ready), one per trial."""
        return [_plain(json.loads(json.dumps(t, default=float))) for t in self.trials]

    def to_json(self, path: Optional[str] = None) -> str:
        """The trials as standard JSON (a NaN becomes ``null``); written to ``path`` when given."""
        text = json.dumps({"goal": self.goal, "trial_steps": self.trial_steps, "row_steps": self.row_steps,
                           "seeds": self.seeds,
                           "timings": self.timings, "budget_spent": self.budget_spent, "trials": self.to_dicts(),
                           **({"confirmed": self.confirmed.to_dicts()} if self.confirmed is not None else {})},
                          indent=1, allow_nan=False)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, path: str, space=None) -> "SweepResult":
        """A result written by ``to_json(path)`` (without the trained params): its
        configurations, confirmation and timings; ``space`` for the plots' scales and
        ``importance`` (JSON does not hold it). ``optfn show`` uses this.

        Example:
            >>> import os, tempfile
            >>> from optfn import sweep
            >>> t = {"id": 0, "hyperparams": {"lr": 0.1}, "status": "ok", "metric": 0.5, "steps": 10,
            ...      "history": {"step": [0, 10], "loss": [1.0, 0.5], "metric": [1.0, 0.5]}}
            >>> path = os.path.join(tempfile.mkdtemp(), "results.json")
            >>> _ = sweep.SweepResult([t]).to_json(path)
            >>> sweep.SweepResult.from_json(path).best()["metric"]
            0.5
        """
        with open(path) as f:
            saved = json.load(f)

        def build(trials, seeds):
            out = cls(trials, saved.get("goal", "min"), saved.get("trial_steps", 0), timings=saved.get("timings"),
                      space=space, seeds=seeds, row_steps=saved.get("row_steps", 0))
            nan = lambda v: float("nan") if v is None else v  # noqa: E731 (JSON writes NaN as null)
            for t in out.trials:
                t["metric"] = nan(t.get("metric"))
                t["history"] = {k: [nan(v) for v in vs] if isinstance(vs, list) else vs
                                for k, vs in t["history"].items()}
            return out

        result = build(saved["trials"], saved.get("seeds", 1))
        result.budget_spent = bool(saved.get("budget_spent", False))
        if saved.get("confirmed") is not None:
            result.confirmed = build(saved["confirmed"], len(saved["confirmed"][0].get("replica_metrics", [0]))
                                     if saved["confirmed"] else 1)
        return result

    def to_dataframe(self, lineage: bool = False):
        """One row per trial (needs pandas): id, status, metric, steps, then each hyperparameter;
        with ``lineage=True`` the rows of ``lineage()`` instead."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("SweepResult.to_dataframe needs pandas: pip install pandas.") from None
        if lineage:
            return pd.DataFrame(self.lineage())
        rows = [{"id": t["id"], "status": t["status"], "metric": t["metric"], "steps": t["steps"],
                 "metric_std": t.get("metric_std"), **t["hyperparams"]}
                for t in self.trials]
        return pd.DataFrame(rows)

    def plot(self, path: Optional[str] = None, space=None, metric_name: str = "final metric"):
        """Final metric against each hyperparameter on its own scale, and the loss curves.

        Learning-rate-like dimensions (``log_uniform``) get a log axis; betas
        (``one_minus_log_uniform``) are plotted against ``1 - beta`` on a log axis; a
        ``choice`` gets a categorical axis. Trials are coloured by round; trials stopped
        early are hollow; the pick (the confirmation's best, else the best) is a red
        star, the confirmed configurations' mean and spread are black bars, and the
        picks' test metrics (``Runner(test_data=)``) black crosses. PBT
        members are plotted at their final hyperparameters. The metric axis gets a log
        scale where its values span more than a decade, and is cut above the bulk where
        a few blow-ups would flatten the rest (how many are cut is written on the plot).
        Needs matplotlib. Returns the figure; saves it to ``path`` when given.

        Args:
            path: where to save the figure (png, pdf, ...).
            space: the ``Space`` the trials came from (default: the result's), for the
                axis scales; without one, positive values spanning more than a decade
                get a log axis.
            metric_name: the metric's name for the y axis, e.g. ``"validation loss"``.
        """
        return _plot.plot(self, path, space if space is not None else self.space, metric_name)
