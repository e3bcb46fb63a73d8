"""The compiled programs of a sweep: one ``init`` and one ``chunk`` per structure.

Every program works on a *block* of ``width`` trials (rows): ``jit(vmap(...))``, or
``jit(shard_map(vmap(...)))`` over a mesh's ``"trials"`` axis. Programs are compiled
ahead of time (``jit(...).lower(...).compile()``) the first time a structure is seen,
timed, counted, and cached on the runner; because every block has the same width, a
structure compiles each program once for the whole sweep (halving rungs, zoomed rounds
and ``confirm`` included). With a persistent cache directory (``use_cache``), a second
process loads them from disk instead of compiling.

A program trains one *layout* (``_structure.Layout``): one structure, or several padded
to the largest (``extent`` says each row's own member and sizes).

* ``init(keys, numeric, extent, shared_key, data, eval_data) -> (carry, loss0, metric0)``:
  parameters, model and optimizer state, the training loss of the untouched parameters
  at step 0, and their metric (``None`` without ``evaluate``).
* ``chunk(carry, numeric, extent, keys, steps, shared_key, data, eval_data) -> (carry,
  losses, metric)``: ``chunk_steps`` optimizer steps in one ``lax.scan``, then the
  evaluation of the new params; ``steps`` is each row's own step counter. With shared
  batches the batch is built once per step outside ``vmap``, so the whole block's first
  layer is one GEMM.

The evaluation lives inside both programs, so a structure compiles two programs, not
three, and a chunk is one dispatch. The two compile side by side in threads
(``prepare``): XLA compiles outside the GIL.
"""

import concurrent.futures
import os
import time
import typing
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._apply_updates import apply_updates
from .._schedule_free import eval_params_or_same
from . import _mesh


_INIT_OPTIONS = {"xla_backend_optimization_level": 0}


def use_cache(cache_dir: str) -> None:
    """Turn on JAX's persistent compilation cache in ``cache_dir`` for every program.

    Small programs are cached too (JAX's default skips those compiling in under 1 s,
    which is most of a CPU sweep). The setting is process-wide, as JAX's is.
    """
    os.makedirs(cache_dir, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", os.path.abspath(cache_dir))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


class _RowFns(typing.NamedTuple):
    """One row's functions of a layout (``Programs._row_fns``); the probe uses them too."""

    hp_of: Callable
    plan: Callable
    batch: Callable
    loss: Callable
    start: Callable
    start_member: Callable
    with_optimizer: Callable
    loss0: Callable
    step: Callable
    own_step: Callable
    evaluate: Callable


def _signature(args) -> tuple:
    # shapes and dtypes only: each argument's layout follows from its position and the
    # mesh (part of the cache key), and equivalent shardings print differently
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((np.shape(a), str(getattr(a, "dtype", type(a)))) for a in leaves)


class Programs:
    """Builds, compiles (ahead of time, timed) and caches the block programs of a runner.

    ``counts`` maps ``"init"`` and ``"chunk"`` to how many programs of that kind were
    compiled; ``seconds`` is the time spent compiling.
    ``on_compile(kind, started)`` is called around every compilation (the progress bar
    shows it as its own phase).
    """

    def __init__(self, runner):
        self.runner = runner
        self._compiled = {}
        self._carry_shapes = {}  # (layout, argument shapes) -> the carry init returns, abstract
        self.counts = {"init": 0, "chunk": 0}
        self.seconds = 0.0
        self.compile_seconds = {}  # program key -> seconds its compilation took (wall, beside the others)
        self.on_compile: Optional[Callable] = None

    # -- one row (trial) -----------------------------------------------------------------

    def _row_fns(self, layout):
        r, static = self.runner, layout.static
        feed = r.feed
        rows = feed.size(static) if layout.batch_sizes else None

        def hp_of(numeric, extent=None):
            if layout.batch_sizes is None:
                return {**static, **numeric}
            return {**static, **numeric, "batch_size": layout.batch_size(extent)}  # the row's own, traced

        def plan(stream, first, n, extent):
            return feed.plan(stream, first, n, static, layout.batch_size(extent))

        def batch(stream, step, data, plan=None, first=None, extent=None):
            return feed.batch(stream, step, static, data, plan, first, layout.batch_size(extent))

        def loss(params, mstate, b, hp, key, t, extent):
            if layout.batch_sizes is None:
                return r.model.loss(params, mstate, b, hp, key, t)
            if layout.repeat:  # the row's own rows, repeated: a mean over them is its batch's mean
                own = jnp.arange(rows) % layout.batch_size(extent)
                return r.model.loss(params, mstate, jax.tree.map(lambda a: a[own], b), hp, key, t)
            # a program shared by batch sizes: the mean of the per-example losses over the
            # row's own leading rows, which is its loss for a loss that is a mean over examples
            one = jax.vmap(lambda ex: r.model.loss(params, mstate, jax.tree.map(lambda a: a[None], ex), hp, key, t)[0])
            size = layout.batch_size(extent)
            per = one(b)
            own = jnp.arange(rows) < size
            return jnp.sum(jnp.where(own, per, jnp.zeros_like(per))) / size.astype(per.dtype), mstate

        def start(key, numeric):
            hp = {**static, **numeric}
            out = r.init(jax.random.fold_in(key, 0), hp)
            params, mstate = out if r.has_state else (out, None)
            return params, mstate, r.optimizer(hp).init(params)

        def start_member(key, numeric, member):
            # the trial's own init at its own size (a member's static), zero-padded
            out = r.init(jax.random.fold_in(key, 0), {**member, **numeric})
            return layout.pad(out if r.has_state else (out, None))

        def with_optimizer(params_mstate, numeric, extent):
            # the optimizer's state of the padded params: zeros (and copies) stay padded
            params, mstate = params_mstate
            return params, mstate, r.optimizer(hp_of(numeric, extent)).init(params)

        def loss0(carry, key, numeric, extent, shared_key, data):
            params, mstate, _ = carry
            stream, zero = (shared_key if r.shared_batches else jax.random.fold_in(key, 1)), jnp.int32(0)
            b = batch(stream, zero, data, plan(stream, zero, 1, extent), zero, extent)
            return loss(params, mstate, b, hp_of(numeric, extent), key, zero, extent)[0]

        def step(carry, numeric, extent, key, t, b):
            # key and t: the row's key and step, for a loss that takes key= (dropout)
            hp = hp_of(numeric, extent)
            params, mstate, ostate = carry
            (value, mstate), grads = jax.value_and_grad(
                lambda p: loss(p, mstate, b, hp, key, t, extent), has_aux=True)(params)
            # padded entries (another member's sizes) take no gradient, update or statistics
            grads = layout.mask(grads, 0, extent)
            updates, ostate = r.optimizer(hp).update(grads, ostate, params)
            updates = layout.mask(updates, 0, extent)
            mstate = layout.mask(mstate, layout.padded.n_params, extent) if layout.axes else mstate
            return (apply_updates(params, updates), mstate, ostate), value

        def own_step(carry, numeric, extent, key, t, data, plan, first):
            return step(carry, numeric, extent, key, t,
                        batch(jax.random.fold_in(key, 1), t, data, plan, first, extent))

        def evaluate(carry, numeric, extent, key, eval_data):
            params, mstate, ostate = carry
            # a schedule-free optimizer trains at y and is judged at its average x
            params = eval_params_or_same(ostate, params)
            return r.model.evaluate(params, mstate, eval_data, hp_of(numeric, extent), key)

        return _RowFns(hp_of, plan, batch, loss, start, start_member, with_optimizer, loss0, step, own_step, evaluate)

    # -- one block -----------------------------------------------------------------------

    def _block_fns(self, layout):
        r = self.runner
        f = self._row_fns(layout)

        def metric(carry, numeric, extent, keys, eval_data):
            if r.evaluate is None:
                return None
            return jax.vmap(f.evaluate, in_axes=(0, 0, 0, 0, None))(carry, numeric, extent, keys, eval_data)

        def block_init(keys, numeric, extent, shared_key, data, eval_data):
            if layout.padded_members:
                # one branch per member; a scan over rows runs only each row's own branch
                # (under vmap a switch would run every branch for every row)
                branches = [lambda k, n, m=m: f.start_member(k, n, m) for m in layout.init_members]
                branch = jnp.asarray(layout.branch)
                params = jax.lax.map(lambda a: jax.lax.switch(branch[a[2][0]], branches, a[0], a[1]),
                                     (keys, numeric, extent))
                carry = jax.vmap(f.with_optimizer)(params, numeric, extent)
            else:
                carry = jax.vmap(f.start)(keys, numeric)
            loss0 = jax.vmap(f.loss0, in_axes=(0, 0, 0, 0, None, None))(carry, keys, numeric, extent, shared_key, data)
            return carry, loss0, metric(carry, numeric, extent, keys, eval_data)

        def block_chunk(carry, numeric, extent, keys, steps, shared_key, data, eval_data):
            n, shared = r.chunk_steps, r.feed.shared(r.shared_batches)
            if shared:  # the epochs' permutations this chunk spans, drawn once (one batch size)
                plan = f.plan(shared_key, steps[0], n, None)
            else:
                plan = jax.vmap(lambda k, s, e: f.plan(jax.random.fold_in(k, 1), s, n, e))(keys, steps, extent)

            def body(c, t):
                if shared:  # one batch for every row: an operand shared by the block
                    b = f.batch(shared_key, steps[0] + t, data, plan, steps[0])
                    return jax.vmap(f.step, in_axes=(0, 0, 0, 0, 0, None))(c, numeric, extent, keys, steps + t, b)
                return jax.vmap(f.own_step, in_axes=(0, 0, 0, 0, 0, None, 0, 0))(
                    c, numeric, extent, keys, steps + t, data, plan, steps)

            carry, losses = jax.lax.scan(body, carry, jnp.arange(r.chunk_steps, dtype=jnp.int32))
            return carry, losses.T, metric(carry, numeric, extent, keys, eval_data)

        return block_init, block_chunk

    def _wrap(self, fn, per_row: tuple, donate: bool, mesh):
        if mesh is not None:
            P = jax.sharding.PartitionSpec
            specs = tuple(P(_mesh.TRIALS) if row else P() for row in per_row)
            fn = jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=P(_mesh.TRIALS))
        return jax.jit(fn, donate_argnums=(0,) if donate else ())

    _SPECS = {"init": ((True, True, True, False, False, False), False),
              "chunk": ((True, True, True, True, True, False, False, False), True)}

    def _key(self, kind, layout, mesh, args):
        return (kind, layout.key if kind == "init" else layout.program_key, mesh, _signature(args))

    def _lower(self, kind: str, layout, mesh, args: tuple):
        fn = dict(zip(("init", "chunk"), self._block_fns(layout)))[kind]
        per_row, donate = self._SPECS[kind]
        return self._wrap(fn, per_row, donate, mesh).lower(*args)

    def _compile(self, kind: str, lowered):
        if kind == "init":
            # init runs once per block, so its code need not be fast; without LLVM's
            # optimisations a typical init (truncated-normal initialisers) compiles 3-4x
            # faster on XLA:CPU. Deterministic like any other program: the same options
            # every time.
            try:
                return lowered.compile(compiler_options=_INIT_OPTIONS)
            except Exception:  # a backend that does not know the option
                pass
        return lowered.compile()

    def prepare(self, layout, mesh, keys, numeric, extent, shared_key, data, eval_data) -> None:
        """Compile a layout's ``init`` and ``chunk`` programs side by side.

        XLA compiles outside the GIL, so the compilations run in parallel threads (on a
        CPU sweep compilation is most of the wall time). The chunk program is lowered
        from the shapes ``init`` will produce.
        """
        carry = self.eval_shape_init(layout, keys, numeric, extent, shared_key, data)
        rows = keys.shape[0]
        if mesh is not None:
            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(_mesh.TRIALS))
            carry = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), carry)
        steps = jax.ShapeDtypeStruct((rows,), jnp.int32, sharding=sharding if mesh is not None else None)
        wanted = {"init": (keys, numeric, extent, shared_key, data, eval_data),
                  "chunk": (carry, numeric, extent, keys, steps, shared_key, data, eval_data)}
        todo = {kind: args for kind, args in wanted.items() if self._key(kind, layout, mesh, args) not in self._compiled}
        if not todo:
            return
        if self.on_compile:
            self.on_compile(", ".join(todo), True)
        t0 = time.perf_counter()
        # trace here (libraries such as flax nnx keep trace state per thread), compile in threads
        lowered = {kind: self._lower(kind, layout, mesh, args) for kind, args in todo.items()}
        def timed(kind):
            start = time.perf_counter()
            return self._compile(kind, lowered[kind]), time.perf_counter() - start

        with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
            futures = {kind: pool.submit(timed, kind) for kind in todo}
            for kind, future in futures.items():
                key = self._key(kind, layout, mesh, todo[kind])
                self._compiled[key], self.compile_seconds[key] = future.result()  # its own seconds
                self.counts[kind] += 1
        self.seconds += time.perf_counter() - t0
        if self.on_compile:
            self.on_compile(", ".join(todo), False)

    def _get(self, kind: str, layout, mesh, args: tuple):
        key = self._key(kind, layout, mesh, args)
        exe = self._compiled.get(key)
        if exe is None:  # a shape ``prepare`` did not foresee
            if self.on_compile:
                self.on_compile(kind, True)
            t0 = time.perf_counter()
            exe = self._compiled[key] = self._compile(kind, self._lower(kind, layout, mesh, args))
            self.compile_seconds[key] = time.perf_counter() - t0
            self.seconds += time.perf_counter() - t0
            self.counts[kind] += 1
            if self.on_compile:
                self.on_compile(kind, False)
        return exe

    def init(self, layout, mesh, keys, numeric, extent, shared_key, data, eval_data):
        args = (keys, numeric, extent, shared_key, data, eval_data)
        return self._get("init", layout, mesh, args)(*args)

    def chunk(self, layout, mesh, carry, numeric, extent, keys, steps, shared_key, data, eval_data):
        args = (carry, numeric, extent, keys, steps, shared_key, data, eval_data)
        return self._get("chunk", layout, mesh, args)(*args)

    def eval_shape_init(self, layout, keys, numeric, extent, shared_key, data):
        # shapes only: sharded (Explicit) inputs outside shard_map would need sharding types
        args = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype),
                            (keys, numeric, extent, shared_key, data, self.runner.eval_data))
        key = (layout.key, _signature(args))
        if key not in self._carry_shapes:  # tracing init is a fifth of a second: once per block shape
            self._carry_shapes[key] = jax.eval_shape(self._block_fns(layout)[0], *args)[0]
        return self._carry_shapes[key]

    def _abstract(self, layout, rows: int, dtypes: dict, data):  # -> the chunk's arguments but data
        numeric = {k: jax.ShapeDtypeStruct((rows,), dtype) for k, dtype in dtypes.items()}
        keys = jax.ShapeDtypeStruct((rows, *jax.random.PRNGKey(0).shape), jnp.uint32)
        extent = jax.ShapeDtypeStruct((rows, 1 + len(layout.axes)), jnp.int32)
        shared = jax.ShapeDtypeStruct(jax.random.PRNGKey(0).shape, jnp.uint32)
        carry = self.eval_shape_init(layout, keys, numeric, extent, shared, data)
        steps = jax.ShapeDtypeStruct((rows,), jnp.int32)
        return carry, numeric, extent, keys, steps, shared

    def chunk_memory(self, layout, rows: int, dtypes: dict, data) -> int:
        """Device bytes of the chunk program for ``rows`` trials (XLA's memory analysis);
        ``dtypes`` maps each traced hyperparameter to its dtype."""
        block_chunk = self._block_fns(layout)[1]
        args = self._abstract(layout, rows, dtypes, data)
        mem = jax.jit(block_chunk).lower(*args, data, self.runner.eval_data).compile().memory_analysis()
        return int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                   - mem.alias_size_in_bytes)

    def time_chunk(self, layout, mesh, rows: int, numeric: dict, data, eval_data) -> tuple:
        """``(chunk_compile_s, init_compile_s, run_s)``: the seconds to compile ``layout``'s
        programs for ``rows`` trials (side by side, as a run compiles them, each its own)
        and to run its chunk once on a zero carry with the largest member's extents: the
        cost model's measurements. The compiled programs are kept: a run of this layout
        and width reuses them."""
        carry, num, extent, keys, steps, shared = self._abstract(layout, rows, {k: v.dtype for k, v in numeric.items()},
                                                                 data)
        zeros = _mesh.place(jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), carry), mesh)
        args = (zeros, _mesh.place({k: np.broadcast_to(v, (rows,)) for k, v in numeric.items()}, mesh),
                _mesh.place(np.broadcast_to(layout.extents[-1], (rows, extent.shape[1])).copy(), mesh),
                _mesh.place(np.zeros(keys.shape, np.uint32), mesh), _mesh.place(np.zeros(rows, np.int32), mesh),
                _mesh.replicate(np.zeros(shared.shape, np.uint32), mesh), data, eval_data)
        self.prepare(layout, mesh, args[3], args[1], args[2], args[5], data, eval_data)
        exe = self._get("chunk", layout, mesh, args)
        t0 = time.perf_counter()
        jax.block_until_ready(exe(*args))
        init = self._key("init", layout, mesh, (args[3], args[1], args[2], args[5], data, eval_data))
        return (self.compile_seconds[self._key("chunk", layout, mesh, args)], self.compile_seconds[init],
                time.perf_counter() - t0)
