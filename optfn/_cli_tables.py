"""``optfn sweep``'s and ``optfn show``'s tables: every configuration by its id.

Column names are single words (``val_loss``, ``test_loss``), so ``line.split()`` reads a
row. Metrics get as many significant digits as it takes to tell the rows apart (5 to 12);
configurations whose metrics are exactly equal share a rank, written ``3=``. Headers
are never cut: a column is as wide as its name.
"""

import csv
import math
import os


def _value(v) -> str:
    if isinstance(v, float):
        return f"{v:.3e}" if v != 0 and (abs(v) < 1e-2 or abs(v) >= 1e3) else f"{v:.4f}"
    return str(v)


def _digits(values) -> int:
    """Significant digits that print different floats differently (at most 12)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    for d in range(5, 13):
        if len({f"{v:.{d}g}" for v in finite}) == len(set(finite)):
            return d
    return 12


def _num(v, d: int) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{d}g}"


def _ranks(metrics: list) -> list:
    """``"1"``, ``"2="``, ``"2="``, ``"4"``: equal metrics share a rank."""
    out = []
    for i, m in enumerate(metrics):
        first = metrics.index(m) + 1
        tied = metrics.count(m) > 1
        out.append(f"{first}{'=' if tied else ''}" if m is not None else str(i + 1))
    return out


def _word(label: str) -> str:
    """A column name in one word, so that ``line.split()`` finds the columns."""
    return label.replace(" ", "_")


def _test_word(label: str) -> str:
    """The test column's name for a validation metric's label: ``val_loss`` -> ``test_loss``."""
    word = _word(label)
    for prefix in ("validation_", "val_"):
        if word.startswith(prefix):
            return "test_" + word[len(prefix):]
    return "test_" + word


def _render(header: list, rows: list) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: " ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header)] + [line(r) for r in rows])


def columns(trials: list) -> tuple:
    """``(metric names besides the ranked one, whether test metrics are there)``."""
    extra = sorted({k for t in trials for k in t.get("metrics", {})})
    return extra, any("test_metric" in t for t in trials)


def ranked(trials: list, names: list, label: str, ranked_by: str = None, hyperparams=None) -> str:
    """The ranked configurations: rank, id, round, metrics (validation, then test), values, steps.

    ``hyperparams(trial)`` gives the values shown (PBT: the final ones)."""
    extra, test = columns(trials)
    extra = [k for k in extra if k != ranked_by]
    metric = [t["metric"] for t in trials]
    d = _digits(metric + [t.get("test_metric") for t in trials])
    header = ["rank", "id"] + (["round"] if any("round" in t for t in trials) else []) + [_word(label)]
    header += [f"val_{k}" for k in extra] + ([_test_word(label)] if test else []) + names + ["steps"]
    rows = []
    for rank, t in zip(_ranks(metric), trials):
        h = hyperparams(t) if hyperparams else t["hyperparams"]
        row = [rank, str(t["id"])] + ([str(t.get("round", 1))] if "round" in header else []) + [_num(t["metric"], d)]
        row += [_num(t.get("metrics", {}).get(k), d) for k in extra]
        row += [_num(t.get("test_metric"), d)] if test else []
        row += [_value(h[n]) for n in names] + [str(t["steps"]) + (" (budget)" if t.get("stop") == "budget" else "")]
        rows.append(row)
    return _render(header, rows)


def confirmed(result, names: list, label: str, ranked_by: str = None) -> str:
    """Every retrained configuration: finished ones by rank, then the failed ones with how
    many of their replicas failed."""
    ok = result.top(len(result.trials))
    failed = [t for t in result.trials if t not in ok]
    trials = ok + failed
    _, test = columns(trials)
    d = _digits([t["metric"] for t in ok] + [t.get("test_metric") for t in ok])
    header = ["rank", "id", f"{_word(label)}_mean", "std", "ok_replicas", "status"]
    header += [_test_word(label)] if test else []
    header += names
    rows = []
    ranks = _ranks([t["metric"] for t in ok]) + ["-"] * len(failed)
    for rank, t in zip(ranks, ok + failed):
        statuses = t.get("replica_status") or [t["status"]] * len(t.get("replica_metrics", [0]))
        good = sum(s == "ok" for s in statuses)
        row = [rank, str(t["id"]), _num(t["metric"], d), _num(t.get("metric_std"), 3), f"{good}/{len(statuses)}",
               t["status"]]
        row += [_num(t.get("test_metric"), d)] if test else []
        rows.append(row + [_value(t["hyperparams"][n]) for n in names])
    return _render(header, rows)


def schedule(segments: list, names: list) -> str:
    """PBT's schedule of the pick: the steps each piece starts at and its values."""
    header = ["from_step"] + names
    return _render(header, [[str(step)] + [_value(hp[n]) for n in names] for step, hp in segments])


def write_csv(path: str, result) -> None:
    """One row per configuration: round, id, status, metric, test metric, steps, values."""
    names = list(result.trials[0]["hyperparams"]) if result.trials else []
    extra, test = columns(result.trials)
    with open(f"{path}.tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "id", "status", "metric", *extra, *(["test_metric"] if test else []), "steps", *names])
        for t in result.trials:
            w.writerow([t.get("round", 1), t["id"], t["status"], t["metric"],
                        *(t.get("metrics", {}).get(k) for k in extra), *([t.get("test_metric")] if test else []),
                        t["steps"], *(t["hyperparams"][n] for n in names)])
    os.replace(f"{path}.tmp", path)
