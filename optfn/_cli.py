"""``optfn sweep``: a real hyperparameter sweep from the command line, resumable.

    optfn sweep [--trials 128] [--steps 300] [--optimizer adam] [--out optfn-sweep]
    optfn sweep --resume optfn-sweep        # after an interruption: continues, same results
    optfn sweep --force                     # replace the sweep in --out with a new one
    optfn show optfn-sweep                  # a finished sweep's tables, its plots drawn again

The bundled task is an MLP with batch norm (64 -> hidden -> 10) on scikit-learn's digits,
split 60/20/20 into training, validation and test data, ranked by validation
cross-entropy (accuracy is recorded too). Round 1 samples the learning rate
log-uniformly and the optimizer's beta as ``1 - 10**U``; each later round zooms in
around the previous round's best trials; every round trains as Hyperband's brackets of
successive halving (``--strategy``: the default because it came closest to the best pick
on both tasks of ``benchmarks/strategies.py``), and every trial sees the same batches
(``--shared-batches``, common random numbers). Then the best
``--confirm`` configurations are retrained with ``--confirm-seeds`` fresh seeds each and
ranked by their mean, so the pick is not a lucky trial; the best 10 of each round and
every confirmed configuration are measured on the test data, which no decision sees.
The output folder receives ``results.json``, ``results.csv``, ``sweep.png``,
``importance.png`` (which hyperparameters mattered), ``best_model.npz``, the options
(``args.json``) and one checkpoint per round (``round<k>.npz``, ``confirm.npz``; with
``--checkpoint-format orbax`` an orbax-checkpoint folder per round, ``round<k>``,
``confirm``), saved atomically every ``--checkpoint-every`` chunks. ``--time-budget
10m`` stops starting new work after 10 minutes and reports the best so far.

Trials are split over one XLA device per CPU core (``--devices``, default all of them),
and compiled programs are kept in a persistent cache (``--cache-dir``, default
``~/.cache/optfn/xla``; ``--no-cache`` turns it off), so running a sweep again compiles
nothing from scratch."""

import argparse
import json
import os
import sys

import jax

from ._cli_checks import UsageError, check_flags, explicit_flags, resumed
from ._cli_sweep import BETA_NAME
from .sweep import CheckpointError


def _default_cache() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "optfn", "xla")


def _split_host() -> None:
    """One XLA CPU device per core, before JAX starts its backends: small batched programs
    leave cores idle on one device, and trials never talk to each other."""
    if "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", ""):
        return  # the user chose already
    jax.config.update("jax_num_cpu_devices", os.cpu_count() or 1)  # one per core; --devices picks among them


class _Help(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """The module docstring as written, and every option's default."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optfn", description="optfn: pure-function optimizers for JAX.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("sweep", help="run a hyperparameter sweep on the bundled digits task",
                            description=__doc__, formatter_class=_Help)
    p.add_argument("--trials", type=int, default=128, help="trials per round")
    p.add_argument("--steps", type=int, default=300, help="optimizer steps per trial")
    p.add_argument("--chunk-steps", type=int, default=50, help="steps between evaluations")
    p.add_argument("--rounds", type=int, default=2, help="coarse round plus zoomed rounds")
    p.add_argument("--halving", type=int, default=3,
                   help="the eta of successive halving, hyperband, asha and bohb (keep the best 1/eta at each rung); 0 turns "
                        "halving off (random search, --strategy halving)")
    p.add_argument("--strategy", choices=("halving", "hyperband", "asha", "bohb", "pbt"), default="hyperband",
                   help="hyperband: coarse-to-fine rounds, each trained as Hyperband's brackets (no first rung to "
                        "guess), then confirmation; halving: the same rounds with plain successive halving "
                        "(--halving 0: random search); asha: the same rounds, each as asynchronous halving (a "
                        "freed row starts the next trial at once), spending at most what halving would on "
                        "--trials (batches are not shared); bohb: asha whose new trials Optuna's TPE proposes "
                        "from the results so far (needs optuna); pbt: one "
                        "population trained with population-based training (its best member's weights and "
                        "schedule); --rounds, --halving, --top-k and --confirm do not apply")
    p.add_argument("--pbt-interval", type=int, default=1, help="pbt: chunks between exploit-and-explore steps")
    p.add_argument("--pbt-fraction", type=float, default=0.25,
                   help="pbt: share of the population that copies the best share, in (0, 0.5]")
    p.add_argument("--top-k", type=int, default=16, help="best trials each zoom narrows around")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled values and the trials' keys")
    p.add_argument("--optimizer", choices=sorted(BETA_NAME), default="adam", help="the optimizer swept")
    p.add_argument("--lr-min", type=float, default=1e-4, help="learning rates: log-uniform from")
    p.add_argument("--lr-max", type=float, default=1.0, help="learning rates: log-uniform to")
    p.add_argument("--beta-min", type=float, default=0.9, help="b1, momentum or decay: 1 - beta log-uniform, beta from")
    p.add_argument("--beta-max", type=float, default=0.999, help="b1, momentum or decay: up to")
    p.add_argument("--wd-min", type=float, default=1e-6, help="adamw weight decay: log-uniform from")
    p.add_argument("--wd-max", type=float, default=1e-2, help="adamw weight decay: up to")
    p.add_argument("--hidden", type=int, default=64, help="hidden units")
    p.add_argument("--batch-size", type=int, default=128, help="examples per step")
    p.add_argument("--sampling", default="epochs", choices=("epochs", "replacement"),
                   help="batches: shuffled epochs (every example once per epoch) or drawn with replacement")
    p.add_argument("--seeds", type=int, default=1, help="replicas per configuration, ranked by their mean")
    p.add_argument("--shared-batches", action=argparse.BooleanOptionalAction, default=True,
                   help="every trial sees the same batch at each step")
    p.add_argument("--confirm", type=int, default=4, help="best configurations retrained at the end; 0 skips")
    p.add_argument("--confirm-seeds", type=int, default=8, help="fresh seeds for each confirmed configuration")
    p.add_argument("--devices", type=int, default=0,
                   help="devices to shard trials over; 0 = every device, one per CPU core on a CPU")
    p.add_argument("--cache-dir", default=_default_cache(), help="persistent compilation cache")
    p.add_argument("--no-cache", action="store_true", help="compile without the persistent cache")
    p.add_argument("--task", metavar="FILE.py:FUNCTION", default=None,
                   help="your own task instead of the bundled digits MLP (see optfn/_cli_task.py)")
    p.add_argument("--space", metavar="SPACE.toml", default=None, help="the search space of --task, in TOML")
    p.add_argument("--out", default="optfn-sweep", help="output folder")
    p.add_argument("--checkpoint-every", type=int, default=1, help="chunks between checkpoints")
    p.add_argument("--checkpoint-format", choices=("npz", "orbax"), default="npz",
                   help="one .npz file per round, or an orbax-checkpoint folder (sharded, asynchronous)")
    p.add_argument("--resume", metavar="DIR", help="continue the sweep saved in DIR with its own options")
    p.add_argument("--force", action="store_true", help="replace the finished or failed sweep in --out")
    p.add_argument("--time-budget", metavar="DURATION", default=None,
                   help="e.g. 90s, 10m, 1.5h: start no new work after it, report the best so far")
    p.add_argument("--optuna-storage", metavar="URL", default=None,
                   help="also write the sweep as an Optuna study there, e.g. sqlite:///sweep.db")
    p.add_argument("--no-plot", action="store_true", help="skip sweep.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    show = commands.add_parser("show", help="print a finished sweep's tables and draw its plots again")
    show.add_argument("dir", metavar="DIR", help="the sweep's folder (its --out)")
    show.add_argument("--no-plot", action="store_true", help="print the tables only")
    return parser


def _show(args) -> None:
    """``optfn show DIR``: a finished sweep's tables, and its plots drawn again."""
    from ._cli_report import report
    from ._cli_sweep import bundled_space
    from ._cli_task import load_space, load_task
    from .sweep import SweepResult

    saved_args, results = os.path.join(args.dir, "args.json"), os.path.join(args.dir, "results.json")
    if not os.path.exists(saved_args):
        raise UsageError(f"optfn show {args.dir}: no sweep there (no args.json).")
    if not os.path.exists(results):
        raise UsageError(f"optfn show {args.dir}: the sweep has not finished (no results.json); "
                         f"optfn sweep --resume {args.dir} finishes it.")
    saved = argparse.Namespace(**{**vars(_parser().parse_args(["sweep"])), **_read_json(saved_args)})
    saved.no_plot = args.no_plot
    label, ranked_by = "val_loss", "loss"
    if saved.task:
        space = load_space(saved.space)
        task = load_task(saved.task)
        label, ranked_by = task.get("metric_name", "metric"), task.get("metric")
    else:
        space = bundled_space(saved)
    result = SweepResult.from_json(results, space)
    report(saved, args.dir, result, space, label, ranked_by, write=False,
           saved_importance=_read_json(results).get("importance"))


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise UsageError(f"{path} cannot be read ({e}); it was left as it is.") from None


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "show":
            _show(args)
            return 0
        if args.resume:
            args = resumed(args, argv, vars(_parser().parse_args(["sweep"])))
        check_flags(args, () if args.resume else explicit_flags(argv))
        _split_host()
        if args.devices > len(jax.devices()):
            raise UsageError(f"--devices {args.devices}: only {len(jax.devices())} device(s) here; pass at most "
                             "that, or 0 for every device.")
        from ._cli_sweep import sweep_command

        sweep_command(args)
    except (UsageError, CheckpointError, ValueError, OSError) as e:
        print(f"optfn {args.command}: {e}", file=sys.stderr)
        return 2
    return 0
