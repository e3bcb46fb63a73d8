"""Optuna's batch ask-and-tell, trained as one vmapped program.

Optuna proposes (TPE, CMA-ES, its dashboards and storages); optfn trains each batch of
proposals together with ``optfn.sweep.Runner``, then tells Optuna the results. Needs
``pip install optuna``. Proposals between rungs, inside one run, are
``optfn.sweep.BOHB``; this module is for a study of one's own (its storage, dashboard
and any sampler), proposing whole batches between runs.

Example::

    import optuna
    from optfn import sweep
    from optfn.integrations.optuna import optimize

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    space = sweep.Space({"learning_rate": sweep.log_uniform(1e-4, 1.0),
                         "b1": sweep.one_minus_log_uniform(0.9, 0.999)})
    optimize(study, runner, space, n_trials=256, batch_size=64)
    print(study.best_params)
"""

import math
from typing import Optional

from ..sweep import Space, SweepResult

try:
    import optuna
except ImportError as e:  # pragma: no cover - exercised only without optuna
    raise ImportError("optfn.integrations.optuna needs Optuna: pip install optuna.") from e


def _one_minus(name: str) -> str:
    return f"1-{name}"  # Optuna samples 1 - beta on a log scale; the runner gets beta


def distributions(space: Space) -> dict:
    """Optuna distributions for an optfn ``Space``, each on the same scale.

    ``one_minus_log_uniform`` becomes a log-scale ``"1-<name>"`` parameter, so that
    TPE models ``1 - beta`` per decade, as the optfn sampler does.

    Example:
        >>> from optfn import sweep
        >>> from optfn.integrations.optuna import distributions
        >>> d = distributions(sweep.Space({"b1": sweep.one_minus_log_uniform(0.9, 0.999)}))
        >>> print(list(d), round(d["1-b1"].low, 6), round(d["1-b1"].high, 6), d["1-b1"].log)
        ['1-b1'] 0.001 0.1 True
    """
    out = {}
    for name, d in space.dimensions.items():
        if d.kind == "log":
            out[name] = optuna.distributions.FloatDistribution(d.low, d.high, log=True)
        elif d.kind == "one_minus_log":
            out[_one_minus(name)] = optuna.distributions.FloatDistribution(1 - d.high, 1 - d.low, log=True)
        elif d.kind == "linear":
            out[name] = optuna.distributions.FloatDistribution(d.low, d.high)
        elif d.kind == "int":
            out[name] = optuna.distributions.IntDistribution(d.low, d.high)
        elif d.kind == "choice":
            out[name] = optuna.distributions.CategoricalDistribution(d.options)
    return out


def _hyperparams(space: Space, params: dict) -> dict:
    hp = {}
    for name, d in space.dimensions.items():
        if d.kind == "one_minus_log":
            hp[name] = 1.0 - params[_one_minus(name)]
        elif d.kind == "fixed":
            hp[name] = d.low
        else:
            hp[name] = params[name]
    return hp


def run_batch(study, runner, space: Space, n: int, **run_kwargs) -> SweepResult:
    """Ask ``study`` for ``n`` trials, train them as one program, tell the results back.

    Finished trials are told their final metric (and report every evaluation as an
    intermediate value, for the dashboard's learning curves); NaN or diverged trials are
    told ``FAIL``.

    Args:
        study: an ``optuna.Study`` whose direction matches ``runner.goal``.
        runner: an ``optfn.sweep.Runner``.
        space: the ``Space``; converted with ``distributions``.
        n: trials in the batch.
        **run_kwargs: passed to ``runner.run`` (``halving``, ``mesh``, ``progress``, ...).

    Returns:
        The batch's ``SweepResult`` (trial ids are Optuna's trial numbers).
    """
    want = optuna.study.StudyDirection.MINIMIZE if runner.goal == "min" else optuna.study.StudyDirection.MAXIMIZE
    if study.direction != want:
        raise ValueError(f"run_batch: the study's direction is {study.direction.name} but the runner's goal is "
                         f"{runner.goal!r}; create the study with direction="
                         f"{'minimize' if runner.goal == 'min' else 'maximize'}.")
    dists = distributions(space)
    asked = [study.ask(dists) for _ in range(n)]
    result = runner.run(space, [_hyperparams(space, t.params) for t in asked], start=asked[0].number, **run_kwargs)
    for trial, outcome in zip(asked, result.trials):
        for step, value in zip(outcome["history"]["step"], outcome["history"]["metric"]):
            if math.isfinite(value):  # Optuna takes finite intermediate values only
                trial.report(value, step)
        if outcome["status"] == "ok":
            study.tell(trial, outcome["metric"])
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return result


def optimize(study, runner, space: Space, n_trials: int, batch_size: int = 64, **run_kwargs) -> list:
    """``run_batch`` until ``n_trials`` trials are told; returns each batch's result.

    Between batches Optuna's sampler learns from the results, so later batches
    concentrate where the earlier ones did well.
    """
    results: list = []
    done = 0
    while done < n_trials:
        size: Optional[int] = min(batch_size, n_trials - done)
        results.append(run_batch(study, runner, space, size, **run_kwargs))
        done += size
    return results


def to_study(result: SweepResult, storage=None, study_name: Optional[str] = None):
    """An Optuna study holding a finished sweep's configurations, for Optuna's tools.

    Distributions are ``distributions(result.space)`` (a ``one_minus_log_uniform``
    dimension ``b1`` is the log-scale parameter ``"1-b1"``); each configuration's
    evaluations are its intermediate values; one that trained every step is
    ``COMPLETE``, one a strategy stopped early ``PRUNED``, a ``nan`` or ``diverged`` one
    ``FAIL``. Each trial's ``user_attrs`` hold optfn's ``id``, ``status``, ``steps`` and
    ``hyperparams``. Then ``optuna.visualization``, ``optuna.importance`` and
    optuna-dashboard work on the sweep.

    Args:
        result: a ``SweepResult`` from ``Runner.run`` (it carries the space).
        storage: an Optuna storage or URL (``"sqlite:///sweep.db"``); ``None`` keeps
            the study in memory.
        study_name: the study's name; ``None`` lets Optuna choose a unique one.

    Example:
        >>> from optfn import sweep
        >>> from optfn.integrations.optuna import to_study
        >>> space = sweep.Space({"lr": sweep.log_uniform(1e-3, 1.0)})
        >>> t = lambda i, m, steps: {"id": i, "hyperparams": {"lr": 0.1 * (i + 1)}, "status": "ok",
        ...                          "metric": m, "steps": steps, "history": {"step": [0, steps], "loss": [1, m],
        ...                                                                   "metric": [1.0, m]}}
        >>> study = to_study(sweep.SweepResult([t(0, 0.5, 10), t(1, 0.9, 5)], space=space))
        >>> [tr.state.name for tr in study.trials], study.best_params
        (['COMPLETE', 'PRUNED'], {'lr': 0.1})
    """
    if result.space is None:
        raise ValueError("to_study: the result carries no search space; pass a result from Runner.run.")
    dists = distributions(result.space)
    study = optuna.create_study(storage=storage, study_name=study_name,
                                direction="minimize" if result.goal == "min" else "maximize")
    full = max((t["steps"] for t in result.trials), default=0)
    frozen = []
    for t in result.trials:
        params = {}
        for name, d in result.space.dimensions.items():
            if d.kind == "one_minus_log":
                params[_one_minus(name)] = 1.0 - t["hyperparams"][name]
            elif d.kind != "fixed":
                params[name] = t["hyperparams"][name]
        metric = t["metric"]
        finished = t["status"] == "ok" and metric is not None and math.isfinite(metric)
        state = (optuna.trial.TrialState.COMPLETE if finished and t["steps"] == full else
                 optuna.trial.TrialState.PRUNED if finished else optuna.trial.TrialState.FAIL)
        steps = {int(s): float(m) for s, m in zip(t["history"]["step"], t["history"]["metric"])
                 if m is not None and math.isfinite(m)}
        frozen.append(optuna.trial.create_trial(
            state=state, value=metric if state == optuna.trial.TrialState.COMPLETE else None, params=params,
            distributions=dists, intermediate_values=steps,
            user_attrs={"id": t["id"], "status": t["status"], "steps": t["steps"], "hyperparams": t["hyperparams"]}))
    study.add_trials(frozen)
    return study
