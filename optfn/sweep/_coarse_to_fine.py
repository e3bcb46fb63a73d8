"""The default search of ``optfn sweep``: coarse to fine with halving, then confirmed.

Round 1 samples the whole space; each later round zooms around the previous round's
best; every round uses successive halving; finally the best configurations of all
rounds are retrained with fresh seeds (``Runner.confirm``) and ranked by their mean, so
the pick that comes out is one that holds up when trained again.
"""

import os
import sys
import time
from typing import Optional

from . import _run_setup as _setup
from ._result import SweepResult


def coarse_to_fine(runner, space, trials: int = 128, *, rounds: int = 2, halving: Optional[int] = 3,
                   top_k: int = 16, confirm: int = 4, confirm_seeds: int = 8, seeds: int = 1, seed: int = 0,
                   mesh=None, progress: bool = False, checkpoint_dir: Optional[str] = None,
                   checkpoint_every: int = 1, checkpoint_format: str = "npz", strategy=None,
                   time_budget: Optional[float] = None) -> SweepResult:
    """Coarse-to-fine rounds with successive halving, then the best ``confirm`` retrained.

    Args:
        runner: a ``Runner``.
        space: the first round's ``Space``.
        trials: configurations per round.
        rounds: the coarse round plus zoomed rounds.
        halving: successive halving's ``eta`` in every round (``None``: train all fully).
        strategy: instead of ``halving``, the strategy of every round:
            ``Hyperband(3)`` is ``optfn sweep``'s default (its rounds need no first rung
            guessed; ``benchmarks/strategies.py`` chose it), ``PopulationBasedTraining()``
            goes with ``rounds=1, confirm=0``.
        top_k: how many of a round's best the next round zooms around.
        confirm: how many of the best configurations (over all rounds) to retrain; 0 skips.
        confirm_seeds: fresh replicas for each confirmed configuration.
        seeds: replicas per configuration inside the rounds.
        seed: the sweep's seed; round ``r`` numbers its configurations from
            ``(r - 1) * trials``, so ids are unique.
        mesh, progress: as in ``Runner.run``.
        checkpoint_dir: a folder for ``round<r>.npz`` and ``confirm.npz``; an interrupted
            call with the same arguments resumes from them.
        checkpoint_every: chunks between checkpoints.
        checkpoint_format: ``"npz"`` (one file per round) or ``"orbax"`` (a folder per
            round, ``round<r>`` and ``confirm``, written by orbax-checkpoint: sharded and
            asynchronous; needs the ``checkpoint`` extra).
        time_budget: seconds of wall time for the whole search; once spent, no chunk,
            round or confirmation starts (``Runner.run``'s ``time_budget``) and the
            result holds the best so far (``result.budget_spent``).

    Returns:
        Every round's configurations in one ``SweepResult`` (each with its ``"round"``);
        ``result.confirmed`` is the confirmation's ``SweepResult`` (or ``None``), whose
        ``best()`` is the configuration to use.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> from optfn import sweep
        >>> x = jax.random.normal(jax.random.key(0), (256, 3)); y = x @ jnp.array([1.0, -2.0, 0.5])
        >>> runner = sweep.Runner(init=lambda key, hp: jnp.zeros(3),
        ...                       loss=lambda w, b: jnp.mean((b["x"] @ w - b["y"]) ** 2),
        ...                       optimizer=lambda hp: optfn.sgd(hp["learning_rate"]),
        ...                       data={"x": x, "y": y}, steps=90, chunk_steps=10, batch_size=32)
        >>> space = sweep.Space({"learning_rate": sweep.log_uniform(1e-3, 0.3)})
        >>> result = sweep.coarse_to_fine(runner, space, trials=18, top_k=4, confirm=2, confirm_seeds=3)
        >>> len(result), len(result.confirmed), result.confirmed.best()["metric"] < 1e-2
        (36, 2, True)
    """
    if checkpoint_format not in ("npz", "orbax"):
        raise ValueError(f"coarse_to_fine: checkpoint_format must be 'npz' or 'orbax', got "
                         f"checkpoint_format={checkpoint_format!r}.")

    def path(name):
        suffix = ".npz" if checkpoint_format == "npz" else ""
        return None if checkpoint_dir is None else os.path.join(checkpoint_dir, name + suffix)

    common = dict(mesh=mesh, progress=progress, checkpoint_every=checkpoint_every, resume=checkpoint_dir is not None)
    deadline = _setup.deadline("coarse_to_fine", time_budget)

    def left():  # the budget's remaining seconds (None: no budget); a started round trains a chunk
        return None if deadline is None else max(deadline - time.perf_counter(), 1e-9)

    done = []
    for r in range(1, rounds + 1):
        if r > 1 and (done[-1].budget_spent or (deadline is not None and time.perf_counter() > deadline)):
            break
        if r > 1:
            space = space.zoom(done[-1], top_k=top_k)
        if progress:
            dims = ", ".join(f"{k} [{d.low:.3g}, {d.high:.3g}]" for k, d in space.dimensions.items() if d.numeric)
            print(f"round {r}/{rounds}: {trials} configurations; {dims}", file=sys.stderr)
        how = {"strategy": strategy} if strategy is not None else {"halving": halving}
        done.append(runner.run(space, trials, seed=seed, start=(r - 1) * trials, seeds=seeds, **how,
                               checkpoint=path(f"round{r}"), time_budget=left(), **common))
    merged = SweepResult([{**t, "round": r} for r, res in enumerate(done, 1) for t in res.trials], runner.goal,
                         sum(res.trial_steps for res in done), space=done[-1].space, root=done[-1].root,
                         seeds=seeds, width=done[-1].width,
                         timings={k: sum(res.timings[k] for res in done) for k in done[0].timings},
                         row_steps=sum(res.row_steps for res in done))
    merged.models = {k: v for res in done for k, v in res.models.items()}
    merged.round_spaces = [res.space for res in done]  # importance() reads round 1
    merged.budget_spent = deadline is not None and (done[-1].budget_spent or time.perf_counter() > deadline)
    if confirm and not merged.budget_spent:
        if progress:
            print(f"confirm: the best {confirm} retrained with {confirm_seeds} fresh seeds each", file=sys.stderr)
        merged.confirmed = runner.confirm(merged, top_k=confirm, seeds=confirm_seeds,
                                          checkpoint=path("confirm"), **common)
        merged.trial_steps += merged.confirmed.trial_steps
        merged.row_steps += merged.confirmed.row_steps
        merged.timings = {k: merged.timings[k] + merged.confirmed.timings[k] for k in merged.timings}
    return merged
