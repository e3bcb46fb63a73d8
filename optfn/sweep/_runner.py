"""Train many trials as fixed-width ``jit(vmap(scan))`` programs, driven by a strategy."""

import numbers
import time
from typing import Any, Callable, Optional

import jax
import numpy as np

from . import _buckets, _confirm, _holdout, _mesh, _width
from . import _run_setup as _setup
from ._data import leading, make_source
from ._loop import Loop as _Loop
from ._model import ModelFns
from ._probe import check, check_values
from ._programs import Programs, use_cache
from ._progress import Progress
from ._result import SweepResult
from ._space import Space, root_key
from ._strategy import RandomSearch
from ._structure import Layout


_positive_int = _setup.positive_int


class Runner:
    """Train many trials of one model together: one compiled program per structure.

    Numeric hyperparameters (learning rate, betas, ...) are per-trial arrays under
    ``jax.vmap``; structural ones (``int_uniform``, ``choice``: hidden units, layers,
    ``batch_size``) group trials into programs: values that only change array sizes
    share a program padded to the largest (``padding``), others get one each. Trials run in
    blocks of a fixed ``width``, ``chunk_steps`` steps per dispatch (one ``lax.scan``),
    with an evaluation at step 0 and after each chunk. Because the width is fixed, each
    structure compiles its ``init`` and ``chunk`` programs once for the runner's
    life: halving rungs, zoomed rounds and ``confirm`` reuse them.

    Args:
        init: ``(key, hp) -> params`` (or ``(params, model_state)`` with ``has_state``);
            ``hp`` maps every hyperparameter name to its value (numeric ones are traced
            float32 scalars).
        loss: ``(params, batch) -> scalar`` (``(params, model_state, batch) ->
            (scalar, model_state)`` with ``has_state``). A loss that names a parameter
            ``hp`` gets the trial's hyperparameters (a dropout rate, an L2 strength), one
            that names ``key`` a PRNG key per trial, replica and step
            (``fold_in(fold_in(trial_key, 2), step)``), both by keyword.
        optimizer: ``hp -> GradientTransformation``, e.g.
            ``lambda h: optfn.adam(h["learning_rate"], b1=h["b1"])``.
        data: a pytree of arrays with one row per example (on the device, batches drawn
            inside the program), a function ``(key, step) -> batch``, or a stream of host
            batches that need not fit on the device: a generator, a data loader, any
            non-array iterable, or ``sweep.Stream(step -> iterator)``. A stream's batches
            are read in order, ``chunk_steps`` at a time (the next chunk while this one
            trains), and every trial alive in a chunk trains on the same batches.
        steps: optimizer steps per trial (a multiple of ``chunk_steps``).
        epochs: instead of ``steps``: passes over the data (``epochs * steps_per_epoch``
            steps); ``chunk_steps`` then defaults to one epoch, so trials are evaluated
            once per epoch.
        evaluate: ``(params, eval_data) -> scalar`` (``(params, model_state, eval_data)``
            with ``has_state``), or a dict of scalars (``{"loss": ..., "accuracy": ...}``,
            ranked by ``metric``, every entry recorded); ``None`` uses the chunk's mean
            training loss. It may name ``hp`` and ``key`` too; its key is
            ``fold_in(trial_key, 3)``, the same at every evaluation.
        eval_data: passed to ``evaluate``.
        metric: with a dict ``evaluate``, the entry trials are ranked by (``goal`` says
            which way); each configuration's ``metrics`` and ``history["metrics"]`` hold
            every entry.
        test_data: data no decision sees. After the run the best 10 configurations
            (those the tables show; with ``confirm``, every confirmed one; PBT's best
            with its final hyperparameters) are evaluated on it with their trained
            params: ``test_metric`` (mean over replicas; ``test_metrics`` for a dict
            ``evaluate``). The validation metric of a winner is biased low: it is the
            best of many noisy numbers, selected on again and again.
        batch_size: rows per step; a structural hyperparameter ``batch_size`` overrides it.
        chunk_steps: steps per dispatch, between evaluations (default 50, or one epoch).
        goal: ``"min"`` or ``"max"``, the direction in which the metric improves.
        has_state: the model carries state (batch-norm statistics).
        diverge_factor: a trial is ``"diverged"`` once a chunk's mean training loss
            exceeds this factor times its loss at step 0 (before any update).
        shared_batches: every trial sees the same batch at step ``t`` (common random
            numbers: configurations are compared on the same data), and the batch is one
            operand shared by the block, so the first layer is one GEMM for all trials.
            Otherwise each trial draws its own batches from its own key.
        sampling: ``"epochs"`` (default): each trial's batches are shuffled epochs without
            replacement (every example once per epoch, a new permutation each epoch from
            the trial's key, or the shared one); ``"replacement"``: each step draws
            ``batch_size`` rows with replacement. ``runner.steps_per_epoch(hp)`` gives the
            steps per epoch, e.g. for ``optfn.per_epoch`` schedules.
        width: trials per program (rows of a block), a multiple of the device count.
            ``None`` chooses it on the first ``run`` for each device count: the trials
            alive in the strategy's last phase, per structure (at least 8, or all),
            rounded up to a multiple of the devices and capped at half the devices'
            memory (``memory_estimate``); later runs keep it (``result.width`` says which).
        cache_dir: a folder for JAX's persistent compilation cache, so another process
            running the same sweep loads its programs instead of compiling them.
        padding: how structures that differ only in array sizes (hidden units, channels:
            *size dimensions*) share programs. ``"auto"`` (default): values are grouped
            into buckets by a cost model (compile seconds against the compute of padding,
            measured on the largest structure), each bucket one program padded with zeros
            to its largest sizes, exactly (a probe checks the model and optimizer first,
            and falls back with a ``PaddingWarning`` where padding would change a trial);
            an int ``k``: ``k`` buckets of about equal numbers of values; ``None``: one
            program per value. ``runner.plan(space, trials)`` shows the buckets before
            anything trains.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> from optfn import sweep
        >>> x = jax.random.normal(jax.random.key(0), (256, 3)); y = x @ jnp.array([1.0, -2.0, 0.5])
        >>> runner = sweep.Runner(
        ...     init=lambda key, hp: jnp.zeros(3),
        ...     loss=lambda w, b: jnp.mean((b["x"] @ w - b["y"]) ** 2),
        ...     optimizer=lambda hp: optfn.sgd(hp["learning_rate"]),
        ...     data={"x": x, "y": y}, steps=100, chunk_steps=50, batch_size=32)
        >>> result = runner.run(sweep.Space({"learning_rate": sweep.log_uniform(1e-3, 0.3)}), trials=16)
        >>> result.best()["metric"] < 1e-2
        True
    """

    def __init__(self, *, init: Callable, loss: Callable, optimizer: Callable, data: Any,
                 steps: Optional[int] = None, epochs: Optional[int] = None,
                 evaluate: Optional[Callable] = None, eval_data: Any = None, batch_size: int = 128,
                 chunk_steps: Optional[int] = None, goal: str = "min", has_state: bool = False,
                 diverge_factor: float = 10.0, shared_batches: bool = False, width: Optional[int] = None,
                 cache_dir: Optional[str] = None, sampling: str = "epochs", padding="auto",
                 metric: Optional[str] = None, test_data: Any = None):
        fn = "Runner"
        self.padding = _buckets.check_padding(fn, padding)
        for name, f in (("init", init), ("loss", loss), ("optimizer", optimizer)):
            if not callable(f):
                raise TypeError(f"{fn}: {name} must be a function, got {f!r}.")
        self.batch_size = _positive_int(fn, "batch_size", batch_size)
        self.feed = make_source(data, self.batch_size, sampling)  # a Source: arrays, a function or a stream
        if (steps is None) == (epochs is None):
            raise ValueError(f"{fn}: pass steps= or epochs= (one of them), got steps={steps!r}, epochs={epochs!r}.")
        if epochs is not None:  # whole passes over the data; one evaluation per epoch by default
            spe = self.feed.steps_per_epoch({})
            steps = _positive_int(fn, "epochs", epochs) * spe
            chunk_steps = spe if chunk_steps is None else chunk_steps
        self.steps = _positive_int(fn, "steps", steps)
        self.chunk_steps = min(_positive_int(fn, "chunk_steps", 50 if chunk_steps is None else chunk_steps),
                               self.steps)
        self.feed.chunk_steps = self.chunk_steps
        if self.steps % self.chunk_steps:
            raise ValueError(f"{fn}: steps={steps} must be a multiple of chunk_steps={self.chunk_steps}.")
        if goal not in ("min", "max"):
            raise ValueError(f"{fn}: goal must be 'min' or 'max', got goal={goal!r}.")
        if isinstance(diverge_factor, bool) or not isinstance(diverge_factor, numbers.Real) or not diverge_factor > 1:
            raise ValueError(f"{fn}: diverge_factor must be a number > 1, got diverge_factor={diverge_factor!r}.")
        for name, flag in (("has_state", has_state), ("shared_batches", shared_batches)):
            if not isinstance(flag, bool):
                raise TypeError(f"{fn}: {name} must be True or False, got {name}={flag!r}.")
        self.width = None if width is None else _positive_int(fn, "width", width)
        if eval_data is not None and not callable(eval_data) and jax.tree.leaves(eval_data):
            leading(fn, "eval_data", eval_data)
        if evaluate is not None and not callable(evaluate):
            raise TypeError(f"{fn}: evaluate must be a function (params, eval_data) -> scalar, got {evaluate!r}.")
        if evaluate is not None and eval_data is None:
            raise ValueError(f"{fn}: evaluate is given but eval_data is None; pass the data evaluate reads "
                             "(e.g. eval_data={'x': x_val, 'y': y_val}), or evaluate=None to rank by the training loss.")
        if metric is not None and not isinstance(metric, str):
            raise TypeError(f"{fn}: metric must be the name of an entry of the dict evaluate returns (a str), or "
                            f"None, got metric={metric!r}.")
        if test_data is not None and evaluate is None:
            raise ValueError(f"{fn}: test_data is given but evaluate is None; pass the evaluate function the picks "
                             "are measured with on test_data.")
        if test_data is not None and not callable(test_data) and jax.tree.leaves(test_data):
            leading(fn, "test_data", test_data)
        self.metric, self.test_data = metric, test_data
        self.init, self.loss, self.optimizer, self.data = init, loss, optimizer, data
        self.evaluate, self.eval_data, self.goal, self.has_state = evaluate, eval_data, goal, has_state
        self.model = ModelFns(loss, evaluate, has_state)  # refuses a parameter it could never fill
        self.diverge_factor, self.shared_batches = float(diverge_factor), shared_batches
        if cache_dir is not None:
            use_cache(cache_dir)
        self.programs = Programs(self)
        self._widths = {}  # the automatic width, by device count
        self._plans = {}  # the last structure plan, by what it depends on
        self._probe_verdicts = {}  # the padding probe's verdict, by layout

    def steps_per_epoch(self, hp: Optional[dict] = None) -> int:
        """Optimizer steps per pass over the data (``n // batch_size``; a structural
        ``batch_size`` in ``hp`` counts), e.g. for ``optfn.per_epoch`` schedules in the
        optimizer factory."""
        return self.feed.steps_per_epoch({"batch_size": hp["batch_size"]} if hp and "batch_size" in hp else {})

    @property
    def compiles(self) -> int:
        """How many programs this runner has compiled (``init`` and ``chunk``, over all
        structures); ``compile_counts`` has them by kind."""
        return sum(self.programs.counts.values())

    @property
    def compile_counts(self) -> dict:
        """``{"init": n, "chunk": n}``: programs compiled so far, by kind."""
        return dict(self.programs.counts)

    def plan(self, space: Space, trials, *, seed=0, method: str = "random", start: int = 0, seeds: int = 1,
             strategy=None, mesh=None):
        """Which trials of ``run(space, trials, ...)`` would share which program, before
        anything trains: a ``StructurePlan`` (``print`` it for a table of buckets, values,
        trials and padded compute; ``estimate`` holds the cost model's figures).

        With ``padding="auto"`` this measures the cost model's two figures on the largest
        structure (one compile, kept for the run, and one chunk on a zero carry).
        """
        fn = "Runner.plan"
        given, n = _setup.given_trials(fn, space, trials)  # the checks run() makes, before any tracing
        seeds = _setup.positive_int(fn, "seeds", seeds)
        samples = given if given is not None else space.sample(n, jax.random.split(root_key(fn, seed))[0],
                                                                  method, start)
        check(self, space, samples[0])
        check_values(fn, self, space, samples, range(start, start + n))
        mesh = _mesh.resolve(mesh)
        return self._plan(space, samples, seeds, strategy or RandomSearch(), mesh)

    def _plan(self, space, samples, seeds, strategy, mesh):
        n, shards = len(samples), _mesh.shards(mesh)
        final = getattr(strategy, "final_alive", None)  # optional for a strategy of one's own
        live = (final(n, self.steps, self.chunk_steps) if final else n) * seeds

        def width_for(programs):
            return self.width or self._widths.get(shards) or _width.auto(live, n * seeds, programs, shards)

        key = (repr(space), tuple(sorted(repr(sorted(space.static(h).items())) for h in samples)), seeds, shards, live)
        if self._plans.get("key") != key:  # run() after plan() reuses it (the cost model measures once)
            self._plans = {"key": key, "plan": _buckets.plan(self, space, samples, seeds, self.padding, mesh,
                                                             width_for)}
        return self._plans["plan"]

    # -- the sweep ---------------------------------------------------------------------

    def run(self, space: Space, trials, *, seed=0, method: str = "random", start: int = 0, seeds: int = 1,
            strategy=None, halving: Optional[int] = None, min_steps: Optional[int] = None, mesh=None,
            progress: bool = False, checkpoint: Optional[str] = None, checkpoint_every: int = 1,
            resume: bool = False, callback: Optional[Callable] = None, keep: Optional[int] = None,
            time_budget: Optional[float] = None) -> SweepResult:
        """Sample ``trials`` configurations from ``space`` and train them all.

        Args:
            space: the ``Space`` to sample from.
            trials: how many configurations, or a list of hyperparameter dicts to train as
                given (from another search tool, or hand-picked values).
            seed: an int or PRNG key. Configuration ``i`` samples its values from
                ``fold_in(root, i)``; its replica ``r`` trains with its own key derived from
                ``(i, r)``, whatever else runs (see "Reproducibility" in the README).
            method: ``"random"`` (default), ``"lhs"``, ``"sobol"`` or ``"grid"``.
            start: the id of the first configuration (to continue a sweep with new ones).
            seeds: replicas per configuration, each with its own init and data keys, in
                the same programs; a configuration's metric is the mean over its replicas
                (``metric_std`` and ``replica_metrics`` keep the spread), and every ranking
                (``best``, ``top``, halving, ``zoom``) uses the mean.
            strategy: a ``sweep.Strategy``: ``RandomSearch`` (default), ``SuccessiveHalving``,
                ``Hyperband``, ``PopulationBasedTraining`` or one of one's own (a subclass
                with a ``decide`` hook; its plans may start new configurations, numbered
                after these), or any object with ``init``, ``ask`` and ``tell``.
            halving: shorthand for ``strategy=SuccessiveHalving(halving, min_steps)``.
            min_steps: steps before the first halving rung (with ``halving``).
            mesh: ``None`` (one device), ``"auto"`` (every device, see ``trials_mesh``) or
                a ``jax.sharding.Mesh`` with a ``"trials"`` axis.
            progress: show a progress bar (tqdm when installed, else a line per chunk).
            checkpoint: a file path: the whole sweep state is saved there every
                ``checkpoint_every`` chunks and at the end, atomically.
            checkpoint_every: chunks between checkpoints.
            resume: continue from ``checkpoint`` when it exists (its settings must match;
                a finished checkpoint returns its result at once). Without ``resume``,
                an existing checkpoint is an error, so it is never overwritten by mistake.
            keep: the trained params (and model state) of every trial come back with the
                result (``result.params(id)``), copied to the host as each trial stops;
                ``keep=k`` keeps only the best ``k`` configurations' (memory), ``keep=0`` none.
            callback: called after every chunk (after the checkpoint is written) with a
                dict ``step``, ``alive``, ``best``, ``timings``; an exception it raises stops
                the run, which ``resume=True`` continues.
            time_budget: seconds of wall time (compilation included) after which no
                chunk starts: the running configurations stop where they are (each
                ``"stop": "budget"``, ``result.budget_spent``) and the result holds the
                best so far. A checkpoint keeps the last chunk before, so ``resume=True``
                continues the sweep to its end.

        Returns:
            A ``SweepResult`` with one entry per configuration.
        """
        fn = "Runner.run"
        given, n = _setup.given_trials(fn, space, trials)
        seeds = _setup.positive_int(fn, "seeds", seeds)
        strategy = _setup.strategy_of(fn, strategy, halving, min_steps)
        if self.shared_batches and not getattr(strategy, "lockstep", True):
            raise ValueError(f"{fn}: {strategy!r} starts configurations while others train, so the rows of a block "
                             "are at different steps and cannot share batches; pass Runner(shared_batches=False).")
        every = _setup.positive_int(fn, "checkpoint_every", checkpoint_every)
        keep = _setup.keep_of(fn, keep)
        deadline = _setup.deadline(fn, time_budget)
        root = root_key(fn, seed)
        sample_root, train_root = jax.random.split(root)
        samples = given if given is not None else space.sample(n, sample_root, method, start)
        check(self, space, samples[0])
        check_values(fn, self, space, samples, range(start, start + n))
        mesh = _mesh.resolve(mesh)
        if self.width is not None and self.width % _mesh.shards(mesh):
            raise ValueError(f"{fn}: width={self.width} must be a multiple of the mesh's {_mesh.shards(mesh)} "
                             "devices; pass Runner(width=...) accordingly.")
        store, saved = _setup.open_checkpoint(fn, checkpoint, resume)
        try:
            layouts, planned = self._layouts(space, samples, seeds, strategy, mesh, saved)
            width = self._run_width(space, layouts, strategy, n, seeds, mesh)
            settings = _setup.RunSettings(
                space=repr(space), samples=samples, start=start, root=np.asarray(root).tolist(), seeds=seeds,
                strategy=_setup.describe(strategy), width=width, devices=_mesh.shards(mesh), steps=self.steps,
                chunk_steps=self.chunk_steps, batch_size=self.batch_size, goal=self.goal,
                shared_batches=self.shared_batches).asdict()
            loop = _Loop(self, space, samples, start, seeds, root, train_root, mesh, width, layouts)
            loop.keep = keep
            _setup.prepare_strategy(strategy, space, samples, layouts)
            if saved is not None:
                loop.restore(saved, store, settings, strategy)
            else:
                loop.state = strategy.init(n, self.steps, self.chunk_steps, self.goal)
                # the plan's compilation is the run's (its programs are the run's), the rest apart
                loop.timings["compile"] += planned[0]
                loop.timings["plan"] = planned[1]
            self._drive(loop, strategy, store, settings, every, progress, callback, deadline)
        finally:
            if store is not None:
                store.close()
        result = loop.result(strategy)
        if self.test_data is not None:  # after every decision: the picks on data none of them saw
            _holdout.evaluate(self, result, train_root, self.test_data)
        return result

    def _layouts(self, space, samples, seeds, strategy, mesh, saved) -> tuple:
        """``(layouts, (compile_s, other_s))``: which programs each structure trains in, a
        checkpoint's own where it has them, and the seconds its plan took here."""
        if saved is not None and "layouts" in saved:  # the programs it was trained in, not a new plan
            return _buckets.layouts_from(self, space, samples, saved["layouts"]), (0.0, 0.0)
        compiled, t0 = self.programs.seconds, time.perf_counter()
        layouts = self._plan(space, samples, seeds, strategy, mesh).layouts
        spent = self.programs.seconds - compiled
        return layouts, (spent, time.perf_counter() - t0 - spent)

    def _run_width(self, space, layouts, strategy, n, seeds, mesh) -> int:
        """The block width: the runner's, or chosen on the first run for each device count
        (so later runs reuse the programs)."""
        shards = _mesh.shards(mesh)
        if self.width is None and shards not in self._widths:
            programs = list({lay.key: lay for lay in layouts.values()}.values())
            final = getattr(strategy, "final_alive", None)  # optional for a strategy of one's own
            live = (final(n, self.steps, self.chunk_steps) if final else n) * seeds
            largest = max(programs, key=lambda lay: lay.padded.param_elements if lay.padded else 0)
            self._widths[shards] = _width.cap(self, _width.auto(live, n * seeds, len(programs), shards), space,
                                              largest, mesh)
        return self.width or self._widths[shards]

    def _drive(self, loop, strategy, store, settings, every, progress, callback, deadline=None) -> None:
        """Ask the strategy, apply its plan, train a chunk, tell it; checkpoint and report;
        past ``deadline``, stop every running configuration (the checkpoint stays before)."""
        bar = Progress(progress, self.steps // self.chunk_steps - loop.chunks, self.goal)
        self.programs.on_compile = bar.compiling
        try:
            loop.open_data()
            while True:
                plan, loop.state = strategy.ask(loop.state)
                loop.apply(plan)
                if plan.done:
                    break
                metrics = loop.train_chunk()
                loop.state = strategy.tell(loop.state, [loop.ledger.report(c) for c in loop.running])
                if store is not None and loop.chunks % every == 0:
                    loop.save(store, settings)
                bar.update(loop.alive(), metrics)
                if callback is not None:
                    callback({"step": loop.step, "alive": loop.alive(), "best": bar.best,
                              "timings": dict(loop.timings)})
                if deadline is not None and time.perf_counter() > deadline and loop.running:
                    loop.budget_stop()
                    return
            if store is not None:
                loop.save(store, settings)
        finally:
            loop.close_data()
            self.programs.on_compile = None
            bar.close()

    def confirm(self, result: SweepResult, top_k: int = 5, seeds: int = 8, seed=None, **run_kwargs) -> SweepResult:
        """Retrain the ``top_k`` best configurations with ``seeds`` fresh replicas each, as one
        sweep, and rank them by the mean: a pick that was a lucky trial drops. A
        population-based training result's picks are retrained under their schedules
        (``result.schedule(id)``), from fresh initialisations.

        Args:
            result: a ``SweepResult`` of this runner.
            top_k: how many of its best configurations to retrain.
            seeds: fresh replicas per configuration.
            seed: the new sweep's seed (default: derived from ``result``'s, and different).
            **run_kwargs: more ``run`` arguments (``mesh``, ``progress``, ...).

        Returns:
            A ``SweepResult`` whose configurations keep their ids in ``result``; each has
            ``metric`` (the mean), ``metric_std`` and ``replica_metrics``.
        """
        return _confirm.confirm(self, result, top_k, seeds, seed, run_kwargs)

    def memory_estimate(self, space: Space, seed=0) -> dict:
        """Per-trial and fixed device memory of the training program, before a big run.

        Compiles the chunk program for 1 and 2 trials of the first sampled structure and
        reads XLA's memory analysis (arguments, outputs and temporaries).

        Returns:
            ``{"per_trial_bytes": int, "fixed_bytes": int}``.
        """
        sample = space.sample(1, seed)[0]
        static = space.static(sample)
        data = self.feed.spec()
        dtypes = {k: space[k].dtype for k in space.traced_names}
        one, two = (self.programs.chunk_memory(Layout.single(static), t, dtypes, data) for t in (1, 2))
        return {"per_trial_bytes": int(two - one), "fixed_bytes": int(2 * one - two)}
