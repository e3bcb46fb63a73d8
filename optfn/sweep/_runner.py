"""Train many trials as one ``jit(vmap(scan))`` program, with successive halving."""

import json
import math
import numbers
import warnings
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._apply_updates import apply_updates
from . import _checkpoint, _halving, _mesh
from ._halving import Block as _Block
from ._halving import round_up as _round_up
from ._result import DIVERGED, NAN, OK, SweepResult
from ._space import Space


class _Recorder(dict):
    """A dict that remembers which keys were read, to warn about unused hyperparameters."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def _positive_int(fn, name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{fn}: {name} must be a positive int, got {name}={value!r}.")
    return int(value)


def _leading(fn: str, name: str, tree) -> int:
    sizes = {jax.tree_util.keystr(p): np.shape(x)[0] if np.ndim(x) else None
             for p, x in jax.tree_util.tree_flatten_with_path(tree)[0]}
    if not sizes or None in sizes.values() or len(set(sizes.values())) != 1:
        raise ValueError(
            f"{fn}: every array in {name} needs the same leading (example) dimension, got {sizes}. "
            "Pass arrays with one row per example, e.g. {'x': x_train, 'y': y_train}."
        )
    return next(iter(sizes.values()))


class Runner:
    """Train many trials of one model together: one compiled program per structure.

    Numeric hyperparameters (learning rate, betas, ...) are per-trial arrays under
    ``jax.vmap``; structural ones (``int_uniform``, ``choice``: hidden units, layers,
    ``batch_size``) group trials, one program per distinct value. Training runs in
    chunks of ``chunk_steps`` steps (one ``lax.scan`` per dispatch) with an evaluation
    after each. Programs are cached on the runner: a second round with new values and
    the same shapes compiles nothing.

    Args:
        init: ``(key, hp) -> params`` (or ``(params, model_state)`` with ``has_state``);
            ``hp`` maps every hyperparameter name to its value (numeric ones are traced
            float32 scalars).
        loss: ``(params, batch) -> scalar`` (``(params, model_state, batch) ->
            (scalar, model_state)`` with ``has_state``).
        optimizer: ``hp -> GradientTransformation``, e.g.
            ``lambda h: optfn.adam(h["learning_rate"], b1=h["b1"])``.
        data: a pytree of arrays with one row per example (each step draws a batch of
            ``batch_size`` rows with replacement, from the trial's own key), or a
            function ``(key, step) -> batch``.
        steps: optimizer steps per trial (a multiple of ``chunk_steps``).
        evaluate: ``(params, eval_data) -> scalar`` (``(params, model_state, eval_data)``
            with ``has_state``); ``None`` uses the chunk's mean training loss.
        eval_data: passed to ``evaluate``.
        batch_size: rows per step; a structural hyperparameter ``batch_size`` overrides it.
        chunk_steps: steps per dispatch, between evaluations.
        goal: ``"min"`` or ``"max"``, the direction in which the metric improves.
        has_state: the model carries state (batch-norm statistics).
        diverge_factor: a trial is ``"diverged"`` once a chunk's mean loss exceeds this
            factor times its first chunk's.

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

    def __init__(self, *, init: Callable, loss: Callable, optimizer: Callable, data: Any, steps: int,
                 evaluate: Optional[Callable] = None, eval_data: Any = None, batch_size: int = 128,
                 chunk_steps: int = 50, goal: str = "min", has_state: bool = False, diverge_factor: float = 10.0):
        fn = "Runner"
        for name, f in (("init", init), ("loss", loss), ("optimizer", optimizer)):
            if not callable(f):
                raise TypeError(f"{fn}: {name} must be a function, got {f!r}.")
        self.steps = _positive_int(fn, "steps", steps)
        self.chunk_steps = min(_positive_int(fn, "chunk_steps", chunk_steps), self.steps)
        if self.steps % self.chunk_steps:
            raise ValueError(f"{fn}: steps={steps} must be a multiple of chunk_steps={self.chunk_steps}.")
        self.batch_size = _positive_int(fn, "batch_size", batch_size)
        if goal not in ("min", "max"):
            raise ValueError(f"{fn}: goal must be 'min' or 'max', got goal={goal!r}.")
        self.n_examples = None if callable(data) else _leading(fn, "data", data)
        if eval_data is not None and not callable(eval_data) and jax.tree.leaves(eval_data):
            _leading(fn, "eval_data", eval_data)
        self.init, self.loss, self.optimizer, self.data = init, loss, optimizer, data
        self.evaluate, self.eval_data, self.goal, self.has_state = evaluate, eval_data, goal, has_state
        self.diverge_factor = float(diverge_factor)
        self._programs = {}

    # -- the per-trial functions, vmapped and jitted once per structure ----------------

    def _batch(self, key, step, hp, data):
        if callable(self.data):
            return self.data(key, step)
        size = hp["batch_size"] if "batch_size" in hp else self.batch_size
        idx = jax.random.randint(key, (size,), 0, self.n_examples)
        return jax.tree.map(lambda a: jnp.asarray(a)[idx], data)

    def _loss_and_grad(self, params, mstate, batch):
        if self.has_state:
            (value, mstate), grads = jax.value_and_grad(self.loss, has_aux=True)(params, mstate, batch)
        else:
            value, grads = jax.value_and_grad(self.loss)(params, batch)
        return value, grads, mstate

    def _program(self, static: dict, mesh=None):
        key = (_halving.structure_key(static), mesh)
        if key in self._programs:
            return self._programs[key]

        def trial_init(trial_key, numeric):
            hp = {**static, **numeric}
            out = self.init(jax.random.fold_in(trial_key, 0), hp)
            params, mstate = out if self.has_state else (out, None)
            return params, mstate, self.optimizer(hp).init(params)

        def trial_chunk(carry, numeric, trial_key, step0, data):
            hp = {**static, **numeric}
            opt, data_key = self.optimizer(hp), jax.random.fold_in(trial_key, 1)

            def body(c, t):
                params, mstate, ostate = c
                batch = self._batch(jax.random.fold_in(data_key, t), t, hp, data)
                value, grads, mstate = self._loss_and_grad(params, mstate, batch)
                updates, ostate = opt.update(grads, ostate, params)
                return (apply_updates(params, updates), mstate, ostate), value

            return jax.lax.scan(body, carry, step0 + jnp.arange(self.chunk_steps))

        def trial_eval(carry, eval_data):
            params, mstate, _ = carry
            if self.has_state:
                return self.evaluate(params, mstate, eval_data)
            return self.evaluate(params, eval_data)

        program = (
            _mesh.per_trial(trial_init, mesh, (0, 0)),
            _mesh.per_trial(trial_chunk, mesh, (0, 0, 0, None, None), donate=True),
            _mesh.per_trial(trial_eval, mesh, (0, None)) if self.evaluate is not None else None,
        )
        self._programs[key] = program
        return program

    @property
    def compiles(self) -> int:
        """How many programs this runner has compiled (all structures and batch sizes)."""
        return sum(f._cache_size() for prog in self._programs.values() for f in prog if f is not None)

    # -- checks before any compilation ------------------------------------------------

    def _check(self, space: Space, hp_values: dict) -> None:
        if "batch_size" in space.dimensions and space.dimensions["batch_size"].numeric:
            raise ValueError(
                f"Runner: batch_size is a shape, so it must be structural (int_uniform, choice or a fixed "
                f"int), got {space.dimensions['batch_size'].kind} sampling; e.g. sweep.choice(32, 64, 128)."
            )
        static = {k: v for k, v in hp_values.items() if not space.dimensions[k].numeric}
        numeric = {k: jnp.float32(v) for k, v in hp_values.items() if space.dimensions[k].numeric}
        hp = _Recorder({**static, **numeric})

        def probe(key):
            out = self.init(key, hp)
            params, mstate = out if self.has_state else (out, None)
            self.optimizer(hp).init(params)
            batch = self._batch(key, 0, hp, self.data)
            value = self.loss(params, mstate, batch) if self.has_state else self.loss(params, batch)
            return value[0] if self.has_state else value

        shape = jax.eval_shape(probe, jax.random.PRNGKey(0))
        if getattr(shape, "shape", None) != ():
            raise ValueError(
                f"Runner: loss must return a scalar, got {shape}. Reduce it, e.g. with jnp.mean "
                "over the batch."
            )
        unused = sorted(set(hp_values) - hp.read - {"batch_size"})
        if unused:
            warnings.warn(
                f"Runner: hyperparameters {unused} are sampled but never read by init, optimizer "
                "or the batch; check their names (a typo trains every trial with the default).",
                UserWarning, stacklevel=3,
            )

    # -- the sweep ---------------------------------------------------------------------

    def _blocks(self, space, samples, ids, train_root, chunk_size, pad_to, mesh):
        groups = {}
        for i, h in enumerate(samples):
            static = {k: v for k, v in h.items() if not space.dimensions[k].numeric}
            groups.setdefault(_halving.structure_key(static), (static, []))[1].append(i)
        blocks = []
        for static, members in groups.values():
            size = chunk_size or _round_up(len(members), pad_to)
            for s in range(0, len(members), size):
                idx = np.array(members[s:s + size])
                pad = size - len(idx)
                rows = np.concatenate([idx, np.repeat(idx[:1], pad)])  # padding repeats a trial, unreported
                numeric = {k: np.asarray([samples[r][k] for r in rows], np.float32) for k in space.numeric_names}
                keys = np.asarray(jax.vmap(lambda i: jax.random.fold_in(train_root, i))(jnp.asarray(ids[rows])))
                blocks.append(_Block(static, idx, _mesh.place(numeric, mesh), _mesh.place(keys, mesh), pad=pad))
        return blocks

    def run(self, space: Space, trials: int, *, seed=0, method: str = "random", start: int = 0,
            halving: Optional[int] = None, min_steps: Optional[int] = None, chunk_size: Optional[int] = None,
            pad_to: int = 8, mesh=None, progress: bool = False, checkpoint: Optional[str] = None,
            checkpoint_every: int = 1, resume: bool = False) -> SweepResult:
        """Sample ``trials`` hyperparameter sets from ``space`` and train them all.

        Args:
            space: the ``Space`` to sample from.
            trials: how many trials, or a list of hyperparameter dicts to train as given
                (from another search tool, or hand-picked values).
            seed: an int or PRNG key. Trial ``i`` samples its values from
                ``fold_in(root, i)`` and trains with its own key, so its results do not
                depend on how many trials run beside it or on ``chunk_size``.
            method: ``"random"`` (default), ``"lhs"``, ``"sobol"`` or ``"grid"``.
            start: the id of the first trial (to continue a sweep with new trials).
            halving: ``eta`` for synchronous successive halving: at each rung the best
                ``1/eta`` of the trials (by metric; NaN and diverged last) continue and
                the others stop, compacted out of the batch so compute really drops.
            min_steps: steps before the first rung (default ``steps / eta**2``, rounded up
                to a multiple of ``chunk_steps``); rungs follow at ``min_steps * eta**k``.
            chunk_size: run at most this many trials per program (bounds memory).
            pad_to: round each program's trial count up to a multiple of this (the extra
                rows repeat a trial and are never reported), so that rounds whose
                structures get slightly different trial counts reuse compiled programs.
            mesh: ``None`` (one device), ``"auto"`` (every device, see ``trials_mesh``) or
                a ``jax.sharding.Mesh`` with a ``"trials"`` axis: trials are split across
                its devices (and hosts), the count padded to a multiple of the axis size.
            progress: show a progress bar (tqdm when installed, else a line per chunk).
            checkpoint: a file path: the whole sweep state is saved there every
                ``checkpoint_every`` chunks and at the end, atomically.
            checkpoint_every: chunks between checkpoints.
            resume: continue from ``checkpoint`` when it exists (its settings must match;
                a finished checkpoint returns its result at once). Without ``resume``,
                an existing checkpoint is an error, so it is never overwritten by mistake.

        Returns:
            A ``SweepResult``.
        """
        given = None
        if isinstance(trials, (list, tuple)):
            given, trials = [dict(t) for t in trials], len(trials)
            for t in given:
                if set(t) != set(space.dimensions):
                    raise ValueError(f"Runner.run: each given trial needs exactly the space's names "
                                     f"{sorted(space.dimensions)}, got {sorted(t)}.")
        n = _positive_int("Runner.run", "trials", trials)
        if halving is not None and (isinstance(halving, bool) or not isinstance(halving, int) or halving < 2):
            raise ValueError(f"Runner.run: halving must be an int >= 2 (keep the best 1/eta), got halving={halving!r}.")
        if chunk_size is not None:
            chunk_size = _positive_int("Runner.run", "chunk_size", chunk_size)
        every = _positive_int("Runner.run", "checkpoint_every", checkpoint_every)
        root = jax.random.PRNGKey(seed) if isinstance(seed, int) else seed
        sample_root, train_root = jax.random.split(root)
        samples = given if given is not None else space.sample(n, sample_root, method, start)
        self._check(space, samples[0])
        ids = np.arange(start, start + len(samples))
        mesh = _mesh.resolve(mesh)
        pad_to = math.lcm(_positive_int("Runner.run", "pad_to", pad_to), _mesh.shards(mesh))
        if chunk_size is not None:
            chunk_size = _round_up(chunk_size, _mesh.shards(mesh))
        settings = {"space": repr(space), "samples": samples, "ids": ids.tolist(), "root": np.asarray(root).tolist(),
                    "halving": halving, "min_steps": min_steps, "chunk_size": chunk_size, "pad_to": pad_to,
                    "devices": _mesh.shards(mesh), "steps": self.steps, "chunk_steps": self.chunk_steps,
                    "batch_size": self.batch_size, "goal": self.goal}
        saved = _checkpoint.load(checkpoint) if checkpoint is not None else None
        if saved is not None and not resume:
            raise _checkpoint.CheckpointError(
                f"Runner.run: {checkpoint} already holds a sweep checkpoint; pass resume=True to continue it, "
                "or choose another path (it is never overwritten)."
            )
        if saved is not None:
            loop = self._restore(saved, checkpoint, settings, mesh)
        else:
            blocks = self._blocks(space, samples, ids, train_root, chunk_size, pad_to, mesh)
            for b in blocks:
                b.carry = self._program(b.static, mesh)[0](b.keys, b.numeric)
            loop = {"blocks": blocks, "history": [{"step": [], "loss": [], "metric": []} for _ in samples],
                    "status": [OK] * n, "first": [None] * n, "stopped": [self.steps] * n, "trial_steps": 0, "step": 0}
        # the data are arguments, not constants baked into the program; on a mesh, every
        # device gets a copy (each process feeds its own local copy)
        data = None if callable(self.data) else _mesh.replicate(self.data, mesh)
        eval_data = _mesh.replicate(self.eval_data, mesh)
        rungs = _halving.rungs(self.steps, self.chunk_steps, halving, min_steps)
        history, status, blocks = loop["history"], loop["status"], loop["blocks"]
        bar = _Progress(progress, (self.steps - loop["step"]) // self.chunk_steps)
        while loop["step"] < self.steps:
            step = loop["step"]
            for b in blocks:
                _, chunk, evaluate = self._program(b.static, mesh)
                b.carry, losses = chunk(b.carry, b.numeric, b.keys, jnp.int32(step), data)
                losses = _mesh.to_host(losses).astype(np.float64)
                metric = _mesh.to_host(evaluate(b.carry, eval_data)).astype(np.float64) if evaluate else losses.mean(1)
                for row, i in enumerate(b.idx):
                    self._record(i, step + self.chunk_steps, losses[row], float(metric[row]), history, status,
                                 loop["first"])
                loop["trial_steps"] += len(b.idx) * self.chunk_steps
            loop["step"] = step = step + self.chunk_steps
            if step in rungs:
                blocks = _halving.halve(blocks, halving, self.goal, history, status, loop["stopped"], step,
                                        chunk_size, pad_to, mesh)
            loop["blocks"] = blocks
            if checkpoint is not None and (step // self.chunk_steps % every == 0 or step == self.steps):
                self._save(checkpoint, settings, loop)
            alive = sum(len(b.idx) for b in blocks)
            finite = [history[i]["metric"][-1] for b in blocks for i in b.idx if status[i] == OK]
            bar.update(alive, (min if self.goal == "min" else max)(finite) if finite else float("nan"))
        bar.close()
        out = [{"id": int(ids[i]), "hyperparams": samples[i], "status": status[i],
                "metric": history[i]["metric"][-1] if history[i]["metric"] else None,
                "steps": loop["stopped"][i], "history": history[i]} for i in range(len(samples))]
        return SweepResult(out, self.goal, loop["trial_steps"])

    def _save(self, path, settings, loop):
        arrays, blocks = [], []
        for b in loop["blocks"]:
            leaves = jax.tree.leaves((b.numeric, b.keys, b.carry))
            arrays += [_mesh.to_host(a) for a in leaves]
            blocks.append({"static": b.static, "idx": b.idx.tolist(), "pad": b.pad, "n_leaves": len(leaves),
                           "numeric": sorted(b.numeric)})
        meta = {"settings": settings, "blocks": blocks, "n_arrays": len(arrays),
                **{k: loop[k] for k in ("history", "status", "first", "stopped", "trial_steps", "step")}}
        _checkpoint.save(path, json.loads(json.dumps(meta, default=float)), arrays)

    def _restore(self, saved, path, settings, mesh):
        meta, arrays = saved
        _checkpoint.check_settings(path, meta["settings"], json.loads(json.dumps(settings, default=float)))
        blocks, at = [], 0
        for spec in meta["blocks"]:
            rows = len(spec["idx"]) + spec["pad"]
            numeric = {k: jax.ShapeDtypeStruct((rows,), jnp.float32) for k in spec["numeric"]}
            keys = jax.ShapeDtypeStruct((rows, *jax.random.PRNGKey(0).shape), jnp.uint32)
            init = self._program(spec["static"], mesh)[0]
            shapes = (numeric, keys, jax.eval_shape(init, keys, numeric))
            leaves = arrays[at:at + spec["n_leaves"]]
            at += spec["n_leaves"]
            numeric, keys, carry = _mesh.place(jax.tree.unflatten(jax.tree.structure(shapes), leaves), mesh)
            blocks.append(_Block(spec["static"], np.asarray(spec["idx"], np.int64), numeric, keys, carry, spec["pad"]))
        loop = {k: meta[k] for k in ("history", "status", "first", "stopped", "trial_steps", "step")}
        loop["blocks"] = blocks
        return loop

    def _record(self, i, step, losses, metric, history, status, first):
        mean = float(np.mean(losses))
        history[i]["step"].append(step)
        history[i]["loss"].append(mean)
        history[i]["metric"].append(metric)
        if status[i] != OK:
            return
        if not (np.all(np.isfinite(losses)) and math.isfinite(metric)):
            status[i] = NAN
        elif first[i] is None:
            first[i] = mean
        elif mean > self.diverge_factor * abs(first[i]):
            status[i] = DIVERGED

    def memory_estimate(self, space: Space, seed=0) -> dict:
        """Per-trial and fixed device memory of the training program, before a big run.

        Compiles the chunk program for 1 and 2 trials of the first sampled structure and
        reads XLA's memory analysis (arguments, outputs and temporaries).

        Returns:
            ``{"per_trial_bytes": int, "fixed_bytes": int}``.
        """
        sample = space.sample(1, seed)[0]
        static = {k: v for k, v in sample.items() if not space.dimensions[k].numeric}
        init, chunk, _ = self._program(static, None)
        sizes = []
        for t in (1, 2):
            numeric = {k: jax.ShapeDtypeStruct((t,), jnp.float32) for k in space.numeric_names}
            keys = jax.ShapeDtypeStruct((t, *jax.random.PRNGKey(0).shape), jnp.uint32)
            carry = jax.eval_shape(init, keys, numeric)
            data = None if callable(self.data) else self.data
            mem = chunk.lower(carry, numeric, keys, jax.ShapeDtypeStruct((), jnp.int32), data).compile().memory_analysis()
            sizes.append(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                         - mem.alias_size_in_bytes)
        per = sizes[1] - sizes[0]
        return {"per_trial_bytes": int(per), "fixed_bytes": int(sizes[0] - per)}


class _Progress:
    def __init__(self, enabled: bool, total: int):
        self.bar, self.enabled, self.done, self.total = None, enabled, 0, total
        if enabled:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, unit="chunk")
            except ImportError:
                pass

    def update(self, alive: int, best: float):
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix(alive=alive, best=f"{best:.4g}")
            self.bar.update(1)
        elif self.enabled:
            print(f"chunk {self.done}/{self.total}  trials alive {alive}  best {best:.4g}")

    def close(self):
        if self.bar is not None:
            self.bar.close()
