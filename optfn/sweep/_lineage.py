"""Lineages of a population: which weights a member ended with, and their schedule.

With population-based training a configuration's weights are replaced during training
by another's. Its ``lineage`` lists the replacements: ``{"step": 0, "from": None,
"hyperparams": sampled}`` first, then ``{"step": s, "from": id, "hyperparams": new}``
for each copy (after ``s`` steps it took configuration ``id``'s weights and trained on
with ``new``). The weights a member ends with were trained, step by step, with the
hyperparameters of whichever member held them at the time; following the copies back
gives that *schedule*: segments ``(first step, hyperparameters)``.
"""

import math
from typing import Optional

import numpy as np


def events(trial: dict) -> list:
    """The trial's lineage (a single entry for a configuration never replaced)."""
    return trial.get("lineage") or [{"step": 0, "from": None, "hyperparams": trial["hyperparams"]}]


def segments(by_id: dict, trial_id: int, end: float = math.inf) -> list:
    """``[(first_step, hyperparams), ...]`` under which the weights ``trial_id`` held at
    step ``end`` were trained."""
    before = [e for e in events(by_id[trial_id]) if e["step"] < end]
    last = before[-1]
    if last["from"] is None:
        return [(0, last["hyperparams"])]
    return segments(by_id, last["from"], last["step"]) + [(last["step"], last["hyperparams"])]


def schedule(by_id: dict, trial_id: int, numeric: list) -> dict:
    """``name -> optfn schedule`` (piecewise constant, joined at the copies) per numeric name."""
    from .._schedules import constant, join_schedules

    parts = segments(by_id, trial_id)
    out = {}
    for name in numeric:
        values = [hp[name] for _, hp in parts]
        if len(parts) == 1:
            out[name] = constant(float(values[0]))
        else:
            out[name] = join_schedules([constant(float(v)) for v in values], [s for s, _ in parts[1:]])
    return out


def rows(trials: list) -> list:
    """One row per lineage entry: ``id``, ``step``, ``from``, then the hyperparameters."""
    return [{"id": t["id"], "step": e["step"], "from": e["from"], **e["hyperparams"]} for t in trials for e in events(t)]


def plot(result, path: Optional[str] = None, space=None):
    """Each numeric hyperparameter's schedule over the steps, one line per configuration
    (the schedule of the weights it ended with), coloured by final rank: dark is best."""
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("SweepResult.plot_schedules needs matplotlib: pip install matplotlib.") from None
    space = space or result.space
    first = result.trials[0]["hyperparams"]
    names = [n for n in first if (space.dimensions[n].numeric if space is not None else isinstance(first[n], float))]
    by_id = {t["id"]: t for t in result.trials}
    ranked = [t["id"] for t in result.top(len(result.trials))]
    ranked += [t["id"] for t in result.trials if t["id"] not in ranked]  # failures last
    end = max(max(t["history"]["step"]) for t in result.trials)
    fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 3.5), squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, name in zip(axes[0], names):
        kind = space.dimensions[name].kind if space is not None else None
        for r, trial_id in reversed(list(enumerate(ranked))):  # the best drawn last, on top
            parts = segments(by_id, trial_id)
            xs = [s for s, _ in parts] + [end]
            ys = [hp[name] for _, hp in parts]
            ys = list(1 - np.asarray(ys)) if kind == "one_minus_log" else ys
            ax.step(xs, ys + ys[-1:], where="post", color=cmap(r / max(1, len(ranked) - 1)), lw=1.2 if r else 2.2,
                    label="best" if r == 0 else None)
        if kind in ("log", "one_minus_log"):
            ax.set_yscale("log")
        ax.set_ylabel(f"1 - {name}" if kind == "one_minus_log" else name)
        ax.set_xlabel("step")
    if names:
        axes[0][0].legend(fontsize=7)
    fig.suptitle("each member's schedule (of the weights it ended with), coloured by final rank: dark is best",
                 fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
