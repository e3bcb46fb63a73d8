"""``optfn sweep``'s run: build and probe everything, then write; train; report.

Whatever the user's input can break (a flag, the task, the space, the data against the
batch size) is built and probed with ``Runner.plan`` before the output folder exists,
so a failed start leaves nothing behind; a run that fails before its first checkpoint
removes what it wrote.
"""

import json
import os
import re
import shutil
import time

import jax

from . import _cli_report
from ._adam import adam, adamw
from ._ademamix import ademamix
from ._adopt import adopt
from ._muon import muon
from ._prodigy import prodigy
from ._schedule_free import schedule_free_adamw, schedule_free_sgd
from ._soap import soap
from ._cli_checks import FolderLock, UsageError, seconds
from ._cli_digits import digits_task
from ._cli_task import load_space, load_task
from ._rmsprop import rmsprop
from ._sgd import sgd
from .sweep import BOHB, AsyncHalving, Hyperband, PopulationBasedTraining, Runner, Space, SuccessiveHalving, SweepResult, coarse_to_fine
from .sweep import log_uniform, one_minus_log_uniform, trials_mesh
from .sweep._checkpoint import open_store

BETA_NAME = {"sgd": None, "momentum": "momentum", "rmsprop": "decay", "adam": "b1", "adamw": "b1", "adopt": "b1",
             "ademamix": "b1", "muon": "beta", "schedule_free_adamw": "b1", "schedule_free_sgd": "b1", "prodigy": "b1",
             "soap": "b1"}
# the runner's argument names, as the command line spells them
FLAGS = {"chunk_steps": "--chunk-steps", "batch_size": "--batch-size", "shared_batches": "--shared-batches",
         "time_budget": "--time-budget", "sampling": "--sampling", "steps": "--steps", "seeds": "--seeds",
         "trials": "--trials"}
OUTPUTS = ("args.json", "results.json", "results.csv", "sweep.png", "importance.png", "schedules.png",
           "best_model.npz")


def flag_names(message: str) -> str:
    """A runner's message in the command line's words: ``batch_size=128`` -> ``--batch-size 128``."""
    message = re.sub(r"^Runner(\.\w+)?: ", "", message)
    for name, flag in FLAGS.items():
        message = re.sub(rf"(?<![-\w]){name}=(['\"]?)([^\s,;)'\"]*)\1", lambda m, f=flag: f"{f} {m.group(2)}",
                         message)
        message = re.sub(rf"(?<![-\w]){name}\b", flag, message)
    return message


# each optimizer from the learning rate and the hyperparameters swept (BETA_NAME's one)
FACTORIES = {
    "sgd": lambda lr, h: sgd(lr),
    "momentum": lambda lr, h: sgd(lr, momentum=h["momentum"]),
    "rmsprop": lambda lr, h: rmsprop(lr, decay=h["decay"]),
    "adam": lambda lr, h: adam(lr, b1=h["b1"]),
    "adamw": lambda lr, h: adamw(lr, b1=h["b1"], weight_decay=h["weight_decay"]),
    "adopt": lambda lr, h: adopt(lr, b1=h["b1"]),
    "ademamix": lambda lr, h: ademamix(lr, b1=h["b1"]),
    "muon": lambda lr, h: muon(lr, beta=h["beta"]),
    "schedule_free_adamw": lambda lr, h: schedule_free_adamw(lr, b1=h["b1"]),
    "schedule_free_sgd": lambda lr, h: schedule_free_sgd(lr, b1=h["b1"]),
    "soap": lambda lr, h: soap(lr, b1=h["b1"]),
    # the learning rate multiplies Prodigy's own estimate: sweep it around 1
    "prodigy": lambda lr, h: prodigy(lr, betas=(h["b1"], 0.999)),
}


def _optimizer(name):
    return lambda h: FACTORIES[name](h["learning_rate"], h)


def bundled_space(args) -> Space:
    dims = {"learning_rate": log_uniform(args.lr_min, args.lr_max)}
    if BETA_NAME[args.optimizer]:
        dims[BETA_NAME[args.optimizer]] = one_minus_log_uniform(args.beta_min, args.beta_max)
    if args.optimizer == "adamw":
        dims["weight_decay"] = log_uniform(args.wd_min, args.wd_max)
    return Space(dims)


def pieces(args) -> tuple:
    """``(runner pieces, space, metric label)``: the bundled digits task, or ``--task``."""
    if args.task:
        task = load_task(args.task)
        skip = ("metric_name", "batch_size", "steps", "sampling")
        return ({"has_state": False, "goal": "min", **{k: v for k, v in task.items() if k not in skip}},
                load_space(args.space), task.get("metric_name", "metric"))
    task = digits_task(args.hidden, args.seed, test=True)
    return {**task, "optimizer": _optimizer(args.optimizer)}, bundled_space(args), "val_loss"


def _strategy(args):
    if args.strategy == "pbt":
        return PopulationBasedTraining(args.pbt_interval, args.pbt_fraction, seed=args.seed)
    if args.strategy == "hyperband":
        return Hyperband(args.halving)
    if args.strategy in ("asha", "bohb"):  # their cost depends on the results: capped at what halving would spend
        cap = SuccessiveHalving(args.halving).trial_steps(args.trials, args.steps, min(args.chunk_steps, args.steps))
        if args.strategy == "asha":
            return AsyncHalving(args.halving, total_steps=cap)
        return BOHB(args.halving, seed=args.seed, total_steps=cap)
    return SuccessiveHalving(args.halving) if args.halving else None


def build(args) -> tuple:
    """``(runner, space, label, devices, mesh)``, probed on the first round's trials."""
    runner_pieces, space, label = pieces(args)
    devices = jax.devices()[: args.devices or None]
    mesh = trials_mesh(devices) if len(devices) > 1 else None
    try:
        runner = Runner(**runner_pieces, steps=args.steps, chunk_steps=min(args.chunk_steps, args.steps),
                        batch_size=args.batch_size, shared_batches=args.shared_batches, sampling=args.sampling,
                        cache_dir=None if args.no_cache else args.cache_dir)
        runner.plan(space, args.trials, seed=args.seed, seeds=args.seeds, strategy=_strategy(args), mesh=mesh)
    except (TypeError, ValueError) as e:
        raise UsageError((f"--task {args.task}: " if args.task else "") + flag_names(str(e))) from None
    return runner, space, label, devices, mesh


def _checkpointed(out: str) -> bool:
    return any(n.startswith(("round", "confirm")) for n in os.listdir(out)) if os.path.isdir(out) else False


def _clear(out: str) -> None:
    """``--force``: remove a previous sweep's outputs (other files stay)."""
    for name in os.listdir(out):
        path = os.path.join(out, name)
        if name in OUTPUTS or name.startswith(("round", "confirm")):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def resume_point(out: str, args) -> str:
    """What ``--resume`` continues: the round and step of the latest checkpoint."""
    suffix = ".npz" if args.checkpoint_format == "npz" else ""
    rounds = 1 if args.strategy == "pbt" else args.rounds
    last = None
    for name in [f"round{r}" for r in range(1, rounds + 1)] + ["confirm"]:
        path = os.path.join(out, name + suffix)
        if os.path.exists(path):
            store = open_store("optfn sweep --resume", path)
            try:
                meta = store.meta()
            finally:
                store.close()
            if meta is not None:
                last = (name, meta["chunks"] * args.chunk_steps)
    if last is None:
        return f"resuming {out}: no checkpoint yet, starting round 1 from step 0"
    name, step = last
    what = "the confirmation" if name == "confirm" else f"round {name[5:]} of {rounds}"
    return f"resuming {out}: {what} from step {step} of {args.steps}"


def sweep_command(args) -> SweepResult:
    t0 = time.perf_counter()
    fresh = not args.resume
    out = args.resume or args.out
    if fresh and os.path.exists(os.path.join(out, "args.json")) and not args.force:
        raise UsageError(f"--out {out} already holds a sweep; continue it with --resume {out}, replace it with "
                         "--force, or pass another --out.")
    runner, space, label, devices, mesh = build(args)  # nothing is written before this succeeds
    created = fresh and not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    try:
        with FolderLock(out):
            if fresh:
                if args.force:
                    _clear(out)
                _cli_report.write_atomic(os.path.join(out, "args.json"), json.dumps(
                    {k: v for k, v in vars(args).items() if k not in ("resume", "quiet", "command", "force")}))
            else:
                print(resume_point(out, args))
            result = _train(args, out, runner, space, mesh)
            _cli_report.report(args, out, result, space, label, runner.metric, devices=len(devices))
    except BaseException:
        if fresh and not _checkpointed(out):  # nothing to resume: leave no folder to trip over
            for name in ("args.json",):
                if os.path.exists(os.path.join(out, name)):
                    os.remove(os.path.join(out, name))
            if created and not os.listdir(out):
                os.rmdir(out)
        raise
    print(f"elapsed {time.perf_counter() - t0:.1f} s")
    return result


def _train(args, out, runner, space, mesh) -> SweepResult:
    pbt, own = args.strategy == "pbt", args.strategy != "halving"
    return coarse_to_fine(runner, space, args.trials, rounds=1 if pbt else args.rounds,
                          halving=None if own else args.halving or None, strategy=_strategy(args) if own else None,
                          top_k=args.top_k, confirm=1 if pbt else args.confirm, confirm_seeds=args.confirm_seeds,
                          seeds=args.seeds, seed=args.seed, mesh=mesh, progress=not args.quiet,
                          checkpoint_dir=out, checkpoint_every=args.checkpoint_every,
                          checkpoint_format=args.checkpoint_format,
                          time_budget=None if args.time_budget is None else seconds(args.time_budget))
