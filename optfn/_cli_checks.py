"""``optfn sweep``'s guards: every flag checked before anything is written, one sweep per
folder at a time (a lock), and ``--resume`` that refuses flags contradicting the saved ones.

Each problem is a ``UsageError``: one line naming the flag, printed by the command, exit
status 2, nothing written.
"""

import argparse
import json
import os


class UsageError(Exception):
    """A mistake in the command line: one line, naming the flag."""


def _positive(args, *names):
    for name in names:
        value = getattr(args, name)
        if value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be >= 1, got {value}.")


TASK_REFUSES = ("optimizer", "lr_min", "lr_max", "beta_min", "beta_max", "wd_min", "wd_max", "hidden")


def seconds(text: str) -> float:
    """``--time-budget``: ``90``, ``90s``, ``10m``, ``1.5h``."""
    units = {"s": 1, "m": 60, "h": 3600}
    value = text.strip().lower()
    scale = units.get(value[-1:], None)
    try:
        out = float(value[:-1] if scale else value) * (scale or 1)
    except ValueError:
        out = -1.0
    if not out > 0:
        raise UsageError(f"--time-budget {text}: pass a positive duration, e.g. 90s, 10m or 1.5h.")
    return out


def check_flags(args, given=()) -> None:
    """Raise ``UsageError`` for the first flag with a value the sweep cannot use; ``given``
    names the options typed on the command line (some do not apply to every strategy or
    task). A task's ``batch_size``, ``steps`` and ``sampling`` fill the flags not given."""
    if bool(args.task) != bool(args.space):
        raise UsageError("--task and --space go together: --task FILE.py:FUNCTION --space SPACE.toml.")
    if args.task and ".py:" in args.task and not os.path.isabs(args.task):  # --resume from anywhere
        args.task = os.path.abspath(args.task)
    if args.space and not os.path.isabs(args.space):
        args.space = os.path.abspath(args.space)
    if args.task:  # load both now, so a mistake in them is reported before anything is written
        from ._cli_task import FLAG_DEFAULTS, load_space, load_task

        for name in TASK_REFUSES:
            if name in given:
                raise UsageError(f"--{name.replace('_', '-')} is a flag of the bundled digits task and does not "
                                 f"apply to --task; set it in {args.task.rpartition(':')[0]} (its optimizer, "
                                 "model) or in --space, and leave the flag out.")
        task = load_task(args.task)
        for name in FLAG_DEFAULTS:
            if name in task and name not in given and not getattr(args, "resume", None):
                want = str if name == "sampling" else int
                if isinstance(task[name], bool) or not isinstance(task[name], want):
                    raise UsageError(f"--task {args.task}: its {name!r} must be {'a str' if want is str else 'an int'} "
                                     f"(the default of --{name.replace('_', '-')}), got {task[name]!r}.")
                setattr(args, name, task[name])
        load_space(args.space)
    if getattr(args, "force", False) and getattr(args, "resume", None):
        raise UsageError("--force starts a new sweep in --out; it does not apply to --resume (which continues one).")
    if args.time_budget is not None:
        seconds(args.time_budget)
    if args.sampling not in ("epochs", "replacement"):
        raise UsageError(f"--sampling must be epochs or replacement, got {args.sampling!r}.")
    _positive(args, "trials", "steps", "chunk_steps", "rounds", "top_k", "hidden", "batch_size", "seeds",
              "confirm_seeds", "checkpoint_every")
    if args.halving == 1 or args.halving < 0:
        raise UsageError(f"--halving must be 0 (off) or an int >= 2, got {args.halving}.")
    if args.halving == 0 and "strategy" not in given:  # no halving, no strategy named: random search
        args.strategy = "halving"
    if args.strategy in ("hyperband", "asha", "bohb") and args.halving == 0:
        raise UsageError(f"--halving 0 turns halving off, but --strategy {args.strategy} halves; pass --halving 2 or "
                         "more (its eta), or --strategy halving --halving 0 for plain random search.")
    if args.strategy in ("asha", "bohb") and "shared_batches" in given and args.shared_batches:
        raise UsageError(f"--shared-batches does not apply to --strategy {args.strategy}: it starts trials while "
                         "others train, so each draws its own batches; leave it out (or pass --no-shared-batches).")
    if args.strategy in ("asha", "bohb"):
        args.shared_batches = False
    if args.strategy == "pbt":
        for name in ("rounds", "halving", "top_k", "confirm"):
            if name in given:
                raise UsageError(f"--{name.replace('_', '-')} does not apply to --strategy pbt (one population, "
                                 "trained once, its members copying the best; its pick is replayed with "
                                 "--confirm-seeds fresh seeds); leave it out.")
        if args.pbt_interval < 1:
            raise UsageError(f"--pbt-interval must be a positive int (chunks), got {args.pbt_interval}.")
        if not 0 < args.pbt_fraction <= 0.5:
            raise UsageError(f"--pbt-fraction must be in (0, 0.5], got {args.pbt_fraction}.")
    if args.confirm < 0:
        raise UsageError(f"--confirm must be >= 0 (0 skips the confirmation), got {args.confirm}.")
    if args.devices < 0:
        raise UsageError(f"--devices must be >= 0 (0 = every device), got {args.devices}.")
    if args.steps % min(args.chunk_steps, args.steps):
        raise UsageError(f"--steps {args.steps} must be a multiple of --chunk-steps {args.chunk_steps}.")
    for low, high, what, lo_ok, hi_ok in (
        ("lr_min", "lr_max", "learning rates", lambda v: v > 0, lambda v: True),
        ("beta_min", "beta_max", "betas", lambda v: 0 < v < 1, lambda v: 0 < v < 1),
        ("wd_min", "wd_max", "weight decays", lambda v: v > 0, lambda v: True),
    ):
        a, b = getattr(args, low), getattr(args, high)
        flag_a, flag_b = f"--{low.replace('_', '-')}", f"--{high.replace('_', '-')}"
        if not lo_ok(a):
            raise UsageError(f"{flag_a} must be {'> 0' if what != 'betas' else 'in (0, 1)'} ({what} are "
                             f"sampled {'log-uniformly' if what != 'betas' else 'as 1 - beta, log-uniformly'}), got {a}.")
        if not hi_ok(b):
            raise UsageError(f"{flag_b} must be in (0, 1), got {b}.")
        if not a < b:
            raise UsageError(f"{flag_a} {a} must be below {flag_b} {b}.")
    if getattr(args, "checkpoint_format", "npz") == "orbax":
        try:
            import orbax.checkpoint  # noqa: F401
        except ImportError:
            raise UsageError("--checkpoint-format orbax needs orbax-checkpoint: pip install 'optfn[checkpoint]'; "
                             "or leave the default --checkpoint-format npz.") from None
    if args.optuna_storage:
        try:
            import optuna
        except ImportError:
            raise UsageError("--optuna-storage needs optuna: pip install 'optfn[optuna]'.") from None
        try:  # a storage that cannot be opened is found now, not after the sweep
            optuna.storages.get_storage(args.optuna_storage)
        except Exception as e:
            raise UsageError(f"--optuna-storage {args.optuna_storage}: cannot be opened ({type(e).__name__}: {e}); "
                             "pass a URL such as sqlite:///sweep.db.") from None
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a file; pass a folder (it is created if missing).")


def explicit_flags(argv) -> dict:
    """The options actually given on the command line (not defaults)."""
    from ._cli import _parser

    parser = _parser()
    for action in parser._subparsers._group_actions[0].choices["sweep"]._actions:
        action.default = argparse.SUPPRESS
    given = vars(parser.parse_args(argv))
    return {k: v for k, v in given.items() if k not in ("command", "resume", "quiet")}


HOW = ("cache_dir", "no_cache", "no_plot", "time_budget", "optuna_storage")


def resumed(args, argv, defaults: dict) -> argparse.Namespace:
    """``--resume DIR``: the saved options, refusing damaged files and contradicting flags."""
    path = os.path.join(args.resume, "args.json")
    if not os.path.isdir(args.resume) or not os.path.exists(path):
        raise UsageError(f"--resume {args.resume}: nothing to resume there (no args.json).")
    try:
        with open(path) as f:
            saved = json.load(f)
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume {args.resume}: its args.json cannot be read ({e}); it was left as it is.") from None
    saved.setdefault("strategy", "halving")  # written before --strategy existed: halving was all there was
    unknown = sorted(set(saved) - set(defaults))
    if unknown:
        raise UsageError(f"--resume {args.resume}: its args.json has options this version does not know: {unknown}.")
    for name, value in explicit_flags(argv).items():
        if name in HOW:
            continue  # how to run, not what: may change on resume
        if saved.get(name, defaults[name]) != value:
            flag = f"--{name.replace('_', '-')}"
            raise UsageError(f"{flag} {value} conflicts with the saved {flag} {saved.get(name, defaults[name])} "
                             f"of {args.resume}; drop it to resume, or start a new sweep with another --out.")
    merged = {**defaults, **saved, "resume": args.resume, "quiet": args.quiet}
    for name in HOW:  # a resume's own (a time budget is not inherited: a resume runs to the end)
        merged[name] = getattr(args, name)
    return argparse.Namespace(**merged)


class FolderLock:
    """``DIR/.lock``, created exclusively with this process's id and removed on exit; a lock
    whose process is gone (killed) is taken over."""

    def __init__(self, folder: str):
        self.path = os.path.join(folder, ".lock")

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    with open(self.path) as f:
                        pid = int(f.read().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and _alive(pid):
                    raise UsageError(f"{os.path.dirname(self.path)} is in use by process {pid} (another optfn "
                                     "sweep); wait for it, or pass another --out.") from None
                os.remove(self.path)  # stale: its process was killed
                continue
            with os.fdopen(fd, "w") as f:
                f.write(str(os.getpid()))
            return self
        raise UsageError(f"could not lock {os.path.dirname(self.path)}; try again.")

    def __exit__(self, *exc):
        try:
            os.remove(self.path)
        except OSError:
            pass
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
