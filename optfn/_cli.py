"""``optfn sweep``: a real hyperparameter sweep from the command line, resumable.

    optfn sweep [--trials 128] [--steps 300] [--optimizer adam] [--out optfn-sweep]
    optfn sweep --resume optfn-sweep        # after an interruption: continues, same results

The bundled task is an MLP with batch norm (64 -> hidden -> 10) on scikit-learn's digits,
ranked by validation cross-entropy. Round 1 samples the learning rate log-uniformly and
the optimizer's beta as ``1 - 10**U``; each later round zooms in around the previous
round's best trials; every round uses successive halving, and every trial sees the same
batches (``--shared-batches``, common random numbers). Then the best ``--confirm``
configurations are retrained with ``--confirm-seeds`` fresh seeds each and ranked by
their mean, so the pick is not a lucky trial. The output folder receives
``results.json``, ``results.csv``, ``sweep.png``, the options (``args.json``) and one
checkpoint per round (``round<k>.npz``, ``confirm.npz``; with ``--checkpoint-format
orbax`` an orbax-checkpoint folder per round, ``round<k>``, ``confirm``), saved
atomically every ``--checkpoint-every`` chunks.

Trials are split over one XLA device per CPU core (``--devices``, default all of them),
and compiled programs are kept in a persistent cache (``--cache-dir``, default
``~/.cache/optfn/xla``; ``--no-cache`` turns it off), so running a sweep again compiles
nothing from scratch.
"""

import argparse
import csv
import json
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from ._adam import adam, adamw
from ._batch_norm import batch_norm, batch_norm_init
from ._cli_checks import FolderLock, UsageError, check_flags, explicit_flags, resumed
from ._cli_task import load_space, load_task
from ._rmsprop import rmsprop
from ._sgd import sgd
from .sweep import Runner, Space, SweepResult, coarse_to_fine, log_uniform, one_minus_log_uniform, trials_mesh
from .sweep import CheckpointError, PopulationBasedTraining, save_params

BETA_NAME = {"sgd": None, "momentum": "momentum", "rmsprop": "decay", "adam": "b1", "adamw": "b1"}


def _optimizer(name):
    def make(h):
        lr = h["learning_rate"]
        if name == "sgd":
            return sgd(lr)
        if name == "momentum":
            return sgd(lr, momentum=h["momentum"])
        if name == "rmsprop":
            return rmsprop(lr, decay=h["decay"])
        if name == "adam":
            return adam(lr, b1=h["b1"])
        return adamw(lr, b1=h["b1"], weight_decay=h["weight_decay"])

    return make


def digits_task(hidden: int, seed: int = 0):
    """The bundled task: ``(init, loss, evaluate, train, val)`` for an MLP with batch norm."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("optfn sweep needs scikit-learn for its digits data: pip install 'optfn[examples]'.") from None
    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    x, y = (d.data[order] / 16.0).astype(np.float32), d.target[order].astype(np.int32)
    cut = int(0.75 * len(y))
    train, val = {"x": x[:cut], "y": y[:cut]}, {"x": x[cut:], "y": y[cut:]}

    def init(key, hp):
        k1, k2 = jax.random.split(key)
        bn_params, bn_state = batch_norm_init(hidden)
        params = {"w1": jax.nn.initializers.he_normal()(k1, (64, hidden)), "bn": bn_params,  # no bias before BN
                  "w2": jax.nn.initializers.glorot_normal()(k2, (hidden, 10)), "b2": jnp.zeros(10)}
        return params, bn_state

    def forward(params, state, x, training):
        h, state = batch_norm(params["bn"], state, x @ params["w1"], training=training, momentum=0.9)
        return jax.nn.relu(h) @ params["w2"] + params["b2"], state

    def cross_entropy(logits, labels):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    def loss(params, state, batch):
        logits, state = forward(params, state, batch["x"], True)
        return cross_entropy(logits, batch["y"]), state

    def evaluate(params, state, data):  # running averages, as at test time
        return cross_entropy(forward(params, state, data["x"], False)[0], data["y"])

    return init, loss, evaluate, train, val


def _space(args) -> Space:
    dims = {"learning_rate": log_uniform(args.lr_min, args.lr_max)}
    if BETA_NAME[args.optimizer]:
        dims[BETA_NAME[args.optimizer]] = one_minus_log_uniform(args.beta_min, args.beta_max)
    if args.optimizer == "adamw":
        dims["weight_decay"] = log_uniform(args.wd_min, args.wd_max)
    return Space(dims)


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
    p.add_argument("--halving", type=int, default=3, help="successive-halving eta; 0 turns it off")
    p.add_argument("--strategy", choices=("halving", "pbt"), default="halving",
                   help="halving: coarse-to-fine rounds, successive halving, then confirmation; pbt: one "
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
    p.add_argument("--no-plot", action="store_true", help="skip sweep.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _write_atomic(path: str, text: str) -> None:
    try:
        with open(f"{path}.tmp", "w") as f:
            f.write(text)
        os.replace(f"{path}.tmp", path)
    except OSError as e:  # a full disk: name the file, leave nothing half-written
        if os.path.exists(f"{path}.tmp"):
            os.remove(f"{path}.tmp")
        raise OSError(f"could not write {path} ({e.strerror or e}); the checkpoints already written are intact.") from None


def _value(v) -> str:
    return f"{v:.3e}" if isinstance(v, float) and (abs(v) < 1e-2 or abs(v) >= 1e3) else (
        f"{v:.4f}" if isinstance(v, float) else str(v))


def _table(trials: list, names: list, metric_name: str, k: int = 10) -> str:
    label = "val loss" if metric_name == "validation loss" else metric_name.replace(" ", "_")[:16]
    w = max(9, len(label))
    lines = [f"{'rank':>4} {'round':>5} {label:>{w}} " + " ".join(f"{n[:13]:>13}" for n in names) + f" {'steps':>5}"]
    for rank, t in enumerate(trials[:k], 1):
        h = t["hyperparams"]
        lines.append(f"{rank:>4} {t['round']:>5} {t['metric']:>{w}.4f} "
                     + " ".join(f"{_value(h[n]):>13}" for n in names) + f" {t['steps']:>5}")
    return "\n".join(lines)


def sweep_command(args) -> SweepResult:
    t0 = time.perf_counter()
    if not args.resume:
        if os.path.exists(os.path.join(args.out, "args.json")):
            raise UsageError(f"--out {args.out} already holds a sweep; continue it with --resume {args.out}, "
                             "or pass another --out (nothing is overwritten).")
        os.makedirs(args.out, exist_ok=True)
    out = args.resume or args.out
    with FolderLock(out):
        if not args.resume:
            _write_atomic(os.path.join(out, "args.json"), json.dumps(
                {k: v for k, v in vars(args).items() if k not in ("resume", "quiet", "command")}))
        result = _sweep(args, out)
    print(f"elapsed {time.perf_counter() - t0:.1f} s")
    return result


def _pieces(args):
    """The runner's pieces and the first round's space: the bundled digits task, or ``--task``."""
    if args.task:
        task = load_task(args.task)
        return ({"has_state": False, "goal": "min", **{k: v for k, v in task.items() if k != "metric_name"}},
                load_space(args.space), task.get("metric_name", "metric"))
    init, loss, evaluate, train, val = digits_task(args.hidden, args.seed)
    return (dict(init=init, loss=loss, optimizer=_optimizer(args.optimizer), data=train, evaluate=evaluate,
                 eval_data=val, has_state=True), _space(args), "validation loss")


def _sweep(args, out) -> SweepResult:
    pieces, space, metric_name = _pieces(args)
    try:
        runner = Runner(**pieces, steps=args.steps, chunk_steps=min(args.chunk_steps, args.steps),
                        batch_size=args.batch_size, shared_batches=args.shared_batches,
                        cache_dir=None if args.no_cache else args.cache_dir)
    except (TypeError, ValueError) as e:
        raise UsageError(f"--task {args.task}: {e}" if args.task else str(e)) from None
    devices = jax.devices()[: args.devices or None]
    mesh = trials_mesh(devices) if len(devices) > 1 else None
    pbt = args.strategy == "pbt"
    strategy = PopulationBasedTraining(args.pbt_interval, args.pbt_fraction, seed=args.seed) if pbt else None
    result = coarse_to_fine(runner, space, args.trials, rounds=1 if pbt else args.rounds,
                            halving=None if pbt else args.halving or None, strategy=strategy,
                            top_k=args.top_k, confirm=0 if pbt else args.confirm, confirm_seeds=args.confirm_seeds,
                            seeds=args.seeds, seed=args.seed, mesh=mesh, progress=not args.quiet,
                            checkpoint_dir=out, checkpoint_every=args.checkpoint_every,
                            checkpoint_format=args.checkpoint_format)
    names = [n for n, d in space.dimensions.items() if d.kind != "fixed"][:4]
    if pbt:  # a member's final hyperparameters; its whole schedule is in results.json and schedules.png
        print("population-based training: each member's hyperparameters at the end")
    print(_table([{**t, "hyperparams": _final(t)} for t in result.top(10)], names, metric_name))
    if result.confirmed is not None:
        print(f"confirmed with {args.confirm_seeds} fresh seeds each (use the first):")
        print(_confirm_table(result.confirmed.top(args.confirm), names, metric_name))
    _write_atomic(os.path.join(out, "results.json"), result.to_json())
    pick = (result.confirmed or result).best()
    if pick is not None and result.models:
        owner = result.confirmed if result.confirmed is not None else result
        save_params(os.path.join(out, "best_model.npz"), owner.params(pick["id"]))  # (params, batch-norm state)
    _write_csv(os.path.join(out, "results.csv"), result)
    t = result.timings
    print(f"{len(result)} trials, {result.trial_steps} trial-steps on {len(devices)} device(s); "
          f"compile {t['compile']:.1f} s, train and evaluate {t['train']:.1f} s; "
          f"results in {out}/results.json and results.csv; the best model in {out}/best_model.npz "
          f"(optfn.sweep.load_params)")
    if not args.no_plot:
        try:
            result.plot(os.path.join(out, "sweep.png"), space=space, metric_name=metric_name)
            print(f"plot: {out}/sweep.png")
            if pbt:
                result.plot_schedules(os.path.join(out, "schedules.png"), space=space)
                print(f"the members' schedules: {out}/schedules.png")
        except ImportError as e:
            print(f"no plot ({e})")
    return result


def _final(trial: dict) -> dict:
    """A configuration's hyperparameters at the end (after PBT's last copy)."""
    return trial["lineage"][-1]["hyperparams"] if trial.get("lineage") else trial["hyperparams"]


def _confirm_table(trials: list, names: list, metric_name: str) -> str:
    lines = [f"{'rank':>4} {'id':>5} {(metric_name + ' mean +- std')[:24]:>24} " + " ".join(f"{n[:13]:>13}" for n in names)]
    for rank, t in enumerate(trials, 1):
        h = t["hyperparams"]
        lines.append(f"{rank:>4} {t['id']:>5} {t['metric']:>13.4f} +- {t['metric_std']:<7.4f} "
                     + " ".join(f"{_value(h[n]):>13}" for n in names))
    return "\n".join(lines)


def _write_csv(path: str, result: SweepResult) -> None:
    names = list(result.trials[0]["hyperparams"])
    with open(f"{path}.tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "id", "status", "metric", "steps", *names])
        for t in result.trials:
            w.writerow([t["round"], t["id"], t["status"], t["metric"], t["steps"], *(t["hyperparams"][n] for n in names)])
    os.replace(f"{path}.tmp", path)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    try:
        if args.resume:
            args = resumed(args, argv, vars(_parser().parse_args(["sweep"])))
        check_flags(args, () if args.resume else explicit_flags(argv))
        _split_host()
        if args.devices > len(jax.devices()):
            raise UsageError(f"--devices {args.devices}: only {len(jax.devices())} device(s) here; pass at most "
                             "that, or 0 for every device.")
        sweep_command(args)
    except (UsageError, CheckpointError, ValueError, OSError) as e:
        print(f"optfn sweep: {e}", file=sys.stderr)
        return 2
    return 0
