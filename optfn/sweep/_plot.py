"""``SweepResult.plot``: the final metric against each hyperparameter, and the loss curves."""

import math
from typing import Optional

import numpy as np

from ._ledger import OK


def _final(t: dict) -> dict:
    """The hyperparameters a configuration ended with (PBT: after its last copy)."""
    return t["lineage"][-1]["hyperparams"] if t.get("lineage") else t["hyperparams"]


def _finite(t: dict) -> bool:
    return t["status"] == OK and t["metric"] is not None and math.isfinite(t["metric"])


def robust_limits(values: np.ndarray, goal: str) -> Optional[tuple]:
    """Metric-axis limits that keep the bulk readable where a few values blow up: the
    worst side is cut at the 90th percentile plus the bulk's spread, when values lie
    beyond 3 spreads; ``None`` when nothing needs cutting."""
    if len(values) < 5:
        return None
    v = values if goal == "min" else -values
    best, q90 = np.min(v), np.percentile(v, 90)
    spread = max(q90 - best, 1e-12)
    if np.max(v) <= q90 + 3 * spread:
        return None
    lo, hi = best - 0.05 * spread, q90 + spread
    return (lo, hi) if goal == "min" else (-hi, -lo)


def plot(result, path: Optional[str], space, metric_name: str):
    try:
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("SweepResult.plot needs matplotlib: pip install matplotlib.") from None
    trials = result.trials
    first = trials[0]["hyperparams"] if trials else {}
    dims = space.dimensions if space is not None else {}
    names = [n for n, v in first.items() if (n in dims and dims[n].kind != "fixed") or
             (n not in dims and isinstance(v, (int, float)))]
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4 * (len(names) + 1), 3.5), squeeze=False)
    ok = [t for t in trials if _finite(t)]
    longest = max((t["steps"] for t in ok), default=0)
    rounds = sorted({t.get("round", 1) for t in ok})
    ys_all = np.array([t["metric"] for t in ok], float)
    limits = robust_limits(ys_all, result.goal)
    shown = ys_all if limits is None else ys_all[(ys_all >= limits[0]) & (ys_all <= limits[1])]
    log_y = len(shown) and shown.min() > 0 and shown.max() / shown.min() > 10
    owner = result.confirmed if result.confirmed is not None else result
    pick = owner.best()
    confirmed = [t for t in result.confirmed.trials if _finite(t)] if result.confirmed is not None else []

    def xs_of(name, group):
        d = dims.get(name)
        raw = [_final(t)[name] for t in group]
        if d is not None and d.kind == "choice":  # a categorical axis, jittered so points do not hide
            idx = np.array([d.options.index(v) for v in raw], float)
            return idx + np.linspace(-0.15, 0.15, len(idx)) if len(idx) > 1 else idx
        xs = np.array(raw, float)
        return 1 - xs if d is not None and d.kind == "one_minus_log" else xs

    for ax, name in zip(axes[0], names):
        d = dims.get(name)
        for i, r in enumerate(rounds):
            for full in (True, False):
                group = [t for t in ok if t.get("round", 1) == r and (t["steps"] == longest) == full]
                if not group:
                    continue
                label = (f"round {r}" if len(rounds) > 1 else "trained fully") if full else \
                    (f"round {r}, stopped early" if len(rounds) > 1 else "stopped early")
                colour = f"C{i}"
                ax.scatter(xs_of(name, group), [t["metric"] for t in group], s=14, label=label,
                           facecolors=colour if full else "none", edgecolors=colour)
        if confirmed:
            ax.errorbar(xs_of(name, confirmed), [t["metric"] for t in confirmed],
                        yerr=[t.get("metric_std") or 0.0 for t in confirmed], fmt="_", color="k", ms=10,
                        capsize=3, label="confirmed: mean, std", zorder=3)
        tested = [t for t in (confirmed or ok) if t.get("test_metric") is not None]
        if tested:  # the picks on data no decision saw, apart from their validation metric
            ax.scatter(xs_of(name, tested), [t["test_metric"] for t in tested], marker="x", s=24, color="k",
                       zorder=3, label="test metric (picks)")
        if pick is not None:
            ax.scatter(xs_of(name, [pick]), [pick["metric"]], marker="*", s=160, color="red", zorder=4,
                       label=f"pick (id {pick['id']})")
        xs = np.array([_final(t)[name] for t in ok], float) if ok and (d is None or d.kind != "choice") else None
        if d is not None and d.kind == "choice":
            ax.set_xticks(range(len(d.options)), [str(o) for o in d.options])
            ax.set_xlabel(name)
        elif d is not None and d.kind == "one_minus_log":
            ax.set_xscale("log")
            ax.set_xlabel(f"1 - {name}")
        else:
            if (d is not None and d.kind == "log") or (d is None and xs is not None and len(xs) and xs.min() > 0
                                                       and xs.max() / xs.min() > 10):
                ax.set_xscale("log")
            ax.set_xlabel(name + (" (final)" if any(t.get("lineage") for t in ok) else ""))
        if log_y:
            ax.set_yscale("log")
        if limits is not None:
            ax.set_ylim(*limits)
            cut = int(np.sum((ys_all < limits[0]) | (ys_all > limits[1])))
            ax.text(0.02, 0.98, f"{cut} beyond the axis", transform=ax.transAxes, va="top", fontsize=7)
        ax.set_ylabel(metric_name)
    if names and ok:
        axes[0][0].legend(fontsize=7)
    curves = axes[0][-1]
    marker = "." if len(trials) <= 32 else None  # hundreds of marked curves take seconds to draw
    for t in trials:
        if t["history"]["loss"]:
            best = pick is not None and t["id"] == pick["id"] and owner is result
            curves.plot(t["history"]["step"], t["history"]["loss"], lw=1.5 if best else 0.6,
                        alpha=1.0 if best else 0.5, color="red" if best else None, marker=marker, ms=2)
    curves.set_yscale("log")
    curves.set_xlabel("step")
    curves.set_ylabel("train loss")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig
