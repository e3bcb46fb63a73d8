"""What ``optfn sweep`` prints and writes at the end, and ``optfn show DIR`` prints again.

The ranked table (validation metrics, the picks' test metrics), the confirmation (every
configuration retrained) or PBT's replayed schedule, which hyperparameters mattered, and
the files: ``results.json`` (the importance included), ``results.csv``,
``best_model.npz``, ``sweep.png``, ``importance.png``, ``schedules.png``.
"""

import json
import os

from . import _cli_tables as tables
from .sweep import save_params
from .sweep._importance import Importance
from .sweep._lineage import segments


def write_atomic(path: str, text: str) -> None:
    try:
        with open(f"{path}.tmp", "w") as f:
            f.write(text)
        os.replace(f"{path}.tmp", path)
    except OSError as e:  # a full disk: name the file, leave nothing half-written
        if os.path.exists(f"{path}.tmp"):
            os.remove(f"{path}.tmp")
        raise OSError(f"could not write {path} ({e.strerror or e}); the checkpoints already written are intact.") from None


def _final(trial: dict) -> dict:
    """A configuration's hyperparameters at the end (after PBT's last copy)."""
    return trial.get("final_hyperparams") or trial["hyperparams"]


def _importance(result, saved=None):
    """``(Importance or None, why not)``."""
    if saved is not None:
        return Importance(**saved), None
    try:
        return result.importance(n_trees=32), None  # half the default forest: a second, not two
    except (ImportError, ValueError) as e:
        return None, str(e)


def report(args, out: str, result, space, label: str, ranked_by, devices: int = 0, write: bool = True,
           saved_importance=None) -> None:
    """Print the tables; with ``write``, write the files; draw the plots unless ``--no-plot``."""
    pbt = args.strategy == "pbt"
    names = [n for n, d in space.dimensions.items() if d.kind != "fixed"]
    if result.budget_spent:
        print(f"the time budget ({args.time_budget}) was spent: these are the best so far; --resume {out} "
              "continues the sweep to its end")
    if pbt:
        print("population-based training: each member's hyperparameters at the end (final_hyperparams in "
              "results.json)")
    print(tables.ranked(result.top(10), names, label, ranked_by, hyperparams=_final))
    failed = [t for t in result.trials if t["status"] != "ok"]
    if failed:
        kinds = ", ".join(sorted({t["status"] for t in failed}))
        print(f"(and {len(failed)} of the {len(result.trials)} configurations failed: {kinds}; they rank last)")
    if result.confirmed is not None and pbt:
        pick = result.confirmed.best() or result.confirmed.trials[0]
        by_id = {t["id"]: t for t in result.trials}
        print(f"\nthe best member's schedule (configuration {pick['id']}), replayed from {len(pick['replica_metrics'])} "
              f"fresh initialisations:")
        print(tables.schedule(segments(by_id, pick["id"]), names))
        print(tables.confirmed(result.confirmed, names, label, ranked_by))
    elif result.confirmed is not None:
        print(f"\nconfirmed: every configuration retrained with {args.confirm_seeds} fresh seeds (use the first):")
        print(tables.confirmed(result.confirmed, names, label, ranked_by))
    imp, why = (None, "population-based training changes the hyperparameters as it trains") if pbt else \
        _importance(result, saved_importance)
    if imp is not None:
        print(f"\nwhich hyperparameters mattered (share of the {label}'s variance across round 1, fANOVA):")
        print(imp)
    elif why:
        print(f"no importance: {why}")
    owner = result.confirmed if result.confirmed is not None else result
    pick = owner.best()
    if write:
        data = json.loads(result.to_json())
        if imp is not None:
            data["importance"] = imp.to_dict()
        write_atomic(os.path.join(out, "results.json"), json.dumps(data, indent=1, allow_nan=False))
        tables.write_csv(os.path.join(out, "results.csv"), result)
        if pick is not None and owner.models:
            save_params(os.path.join(out, "best_model.npz"), owner.params(pick["id"]))  # (params, model state)
        t = result.timings
        print(f"\n{len(result)} configurations, {result.trial_steps} trial-steps on {devices} device(s); compile "
              f"{t['compile']:.1f} s, train and evaluate {t['train']:.1f} s")
        print(f"results: {out}/results.json, {out}/results.csv")
        if pick is not None and owner.models:
            which = "its confirmation's" if owner is not result else "its"
            print(f"the best model: configuration {pick['id']}, {which} replica 0, in {out}/best_model.npz "
                  "(optfn.sweep.load_params; see the README's 'The best model')")
        if args.optuna_storage:
            study = result.to_optuna(storage=args.optuna_storage)
            print(f"optuna study {study.study_name!r} in {args.optuna_storage}")
    if not args.no_plot:
        try:
            result.plot(os.path.join(out, "sweep.png"), space=space, metric_name=label)
            drawn = [f"{out}/sweep.png"]
            if imp is not None:
                from .sweep._importance import plot

                plot(imp, os.path.join(out, "importance.png"))
                drawn.append(f"{out}/importance.png")
            if pbt:
                result.plot_schedules(os.path.join(out, "schedules.png"), space=space)
                drawn.append(f"{out}/schedules.png")
            print("plots: " + ", ".join(drawn))
        except ImportError as e:
            print(f"no plot ({e})")
