"""The compiled programs of a sweep: one ``init``, ``chunk`` and ``eval`` per structure.

Every program works on a *block* of ``width`` trials (rows): ``jit(vmap(...))``, or
``jit(shard_map(vmap(...)))`` over a mesh's ``"trials"`` axis. Programs are compiled
ahead of time (``jit(...).lower(...).compile()``) the first time a structure is seen,
timed, counted, and cached on the runner; because every block has the same width, a
structure compiles each program once for the whole sweep (halving rungs, zoomed rounds
and ``confirm`` included). With a persistent cache directory (``use_cache``), a second
process loads them from disk instead of compiling.

* ``init(keys, numeric, shared_key, data) -> (carry, loss0)``: parameters, model and
  optimizer state, and the training loss of the untouched parameters at step 0.
* ``chunk(carry, numeric, keys, steps, shared_key, data) -> (carry, losses)``:
  ``chunk_steps`` optimizer steps in one ``lax.scan``; ``steps`` is each row's own step
  counter. With shared batches the batch is built once per step outside ``vmap``, so the
  whole block's first layer is one GEMM.
* ``eval(carry, numeric, keys, eval_data) -> metric``.

The three compile side by side in threads (``prepare``): XLA compiles outside the GIL.
"""

import concurrent.futures
import os
import time
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._apply_updates import apply_updates
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


def structure_key(static: dict) -> tuple:
    """A hashable key for a trial's structural hyperparameters: one set of programs each."""
    return tuple(sorted((k, repr(v)) for k, v in static.items()))


def _signature(args) -> tuple:
    # shapes and dtypes only: each argument's layout follows from its position and the
    # mesh (part of the cache key), and equivalent shardings print differently
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple((np.shape(a), str(getattr(a, "dtype", type(a)))) for a in leaves)


class Programs:
    """Builds, compiles (ahead of time, timed) and caches the block programs of a runner.

    ``counts`` maps ``"init"``, ``"chunk"`` and ``"eval"`` to how many programs of that
    kind were compiled; ``seconds`` is the time spent compiling.
    ``on_compile(kind, started)`` is called around every compilation (the progress bar
    shows it as its own phase).
    """

    def __init__(self, runner):
        self.runner = runner
        self._compiled = {}
        self.counts = {"init": 0, "chunk": 0, "eval": 0}
        self.seconds = 0.0
        self.on_compile: Optional[Callable] = None

    # -- one row (trial) -----------------------------------------------------------------

    def _row_fns(self, static: dict):
        r = self.runner

        def hp_of(numeric):
            return {**static, **numeric}

        feed = r.feed

        def batch(stream, step, data, plan=None, first=None):
            return feed.batch(stream, step, static, data, plan, first)

        def init(key, numeric, shared_key, data):
            hp = hp_of(numeric)
            out = r.init(jax.random.fold_in(key, 0), hp)
            params, mstate = out if r.has_state else (out, None)
            stream, zero = (shared_key if r.shared_batches else jax.random.fold_in(key, 1)), jnp.int32(0)
            b = batch(stream, zero, data, feed.plan(stream, zero, 1, static), zero)
            value = r.model.loss(params, mstate, b, hp, key, zero)[0]
            return (params, mstate, r.optimizer(hp).init(params)), value

        def step(carry, numeric, key, t, b):
            # key and t: the row's key and step, for a loss that takes key= (dropout)
            hp = hp_of(numeric)
            params, mstate, ostate = carry
            (value, mstate), grads = jax.value_and_grad(
                lambda p: r.model.loss(p, mstate, b, hp, key, t), has_aux=True)(params)
            updates, ostate = r.optimizer(hp).update(grads, ostate, params)
            return (apply_updates(params, updates), mstate, ostate), value

        def own_step(carry, numeric, key, t, data, plan, first):
            return step(carry, numeric, key, t, batch(jax.random.fold_in(key, 1), t, data, plan, first))

        def evaluate(carry, numeric, key, eval_data):
            params, mstate, _ = carry
            return r.model.evaluate(params, mstate, eval_data, hp_of(numeric), key)

        return init, step, own_step, evaluate, batch

    # -- one block -----------------------------------------------------------------------

    def _block_fns(self, static: dict):
        r = self.runner
        init, step, own_step, evaluate, batch = self._row_fns(static)

        def block_init(keys, numeric, shared_key, data):
            return jax.vmap(init, in_axes=(0, 0, None, None))(keys, numeric, shared_key, data)

        def block_chunk(carry, numeric, keys, steps, shared_key, data):
            n, shared = r.chunk_steps, r.feed.shared(r.shared_batches)
            if shared:  # the epochs' permutations this chunk spans, drawn once
                plan = r.feed.plan(shared_key, steps[0], n, static)
            else:
                plan = jax.vmap(lambda k, s: r.feed.plan(jax.random.fold_in(k, 1), s, n, static))(keys, steps)

            def body(c, t):
                if shared:  # one batch for every row: an operand shared by the block
                    b = batch(shared_key, steps[0] + t, data, plan, steps[0])
                    return jax.vmap(step, in_axes=(0, 0, 0, 0, None))(c, numeric, keys, steps + t, b)
                return jax.vmap(own_step, in_axes=(0, 0, 0, 0, None, 0, 0))(
                    c, numeric, keys, steps + t, data, plan, steps)

            carry, losses = jax.lax.scan(body, carry, jnp.arange(r.chunk_steps, dtype=jnp.int32))
            return carry, losses.T

        def block_eval(carry, numeric, keys, eval_data):
            return jax.vmap(evaluate, in_axes=(0, 0, 0, None))(carry, numeric, keys, eval_data)

        return block_init, block_chunk, block_eval

    def _wrap(self, fn, per_row: tuple, donate: bool, mesh):
        if mesh is not None:
            P = jax.sharding.PartitionSpec
            specs = tuple(P(_mesh.TRIALS) if row else P() for row in per_row)
            fn = jax.shard_map(fn, mesh=mesh, in_specs=specs, out_specs=P(_mesh.TRIALS))
        return jax.jit(fn, donate_argnums=(0,) if donate else ())

    _SPECS = {"init": ((True, True, False, False), False), "chunk": ((True, True, True, True, False, False), True),
              "eval": ((True, True, True, False), False)}

    def _key(self, kind, static, mesh, args):
        return (kind, structure_key(static), mesh, _signature(args))

    def _lower(self, kind: str, static: dict, mesh, args: tuple):
        fn = dict(zip(("init", "chunk", "eval"), self._block_fns(static)))[kind]
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

    def prepare(self, static: dict, mesh, keys, numeric, shared_key, data, eval_data) -> None:
        """Compile a structure's ``init``, ``chunk`` and ``eval`` programs side by side.

        XLA compiles outside the GIL, so the three compilations run in parallel threads
        (on a CPU sweep compilation is most of the wall time). The chunk and eval programs
        are lowered from the shapes ``init`` will produce.
        """
        carry = self.eval_shape_init(static, keys, numeric, shared_key, data)
        rows = keys.shape[0]
        if mesh is not None:
            sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(_mesh.TRIALS))
            carry = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding), carry)
        steps = jax.ShapeDtypeStruct((rows,), jnp.int32, sharding=sharding if mesh is not None else None)
        wanted = {"init": (keys, numeric, shared_key, data), "chunk": (carry, numeric, keys, steps, shared_key, data)}
        if self.runner.evaluate is not None:
            wanted["eval"] = (carry, numeric, keys, eval_data)
        todo = {kind: args for kind, args in wanted.items() if self._key(kind, static, mesh, args) not in self._compiled}
        if not todo:
            return
        if self.on_compile:
            self.on_compile(", ".join(todo), True)
        t0 = time.perf_counter()
        # trace here (libraries such as flax nnx keep trace state per thread), compile in threads
        lowered = {kind: self._lower(kind, static, mesh, args) for kind, args in todo.items()}
        with concurrent.futures.ThreadPoolExecutor(len(todo)) as pool:
            futures = {kind: pool.submit(self._compile, kind, lowered[kind]) for kind in todo}
            for kind, future in futures.items():
                self._compiled[self._key(kind, static, mesh, todo[kind])] = future.result()
                self.counts[kind] += 1
        self.seconds += time.perf_counter() - t0
        if self.on_compile:
            self.on_compile(", ".join(todo), False)

    def _get(self, kind: str, static: dict, mesh, args: tuple):
        key = self._key(kind, static, mesh, args)
        exe = self._compiled.get(key)
        if exe is None:  # a shape ``prepare`` did not foresee
            if self.on_compile:
                self.on_compile(kind, True)
            t0 = time.perf_counter()
            exe = self._compiled[key] = self._compile(kind, self._lower(kind, static, mesh, args))
            self.seconds += time.perf_counter() - t0
            self.counts[kind] += 1
            if self.on_compile:
                self.on_compile(kind, False)
        return exe

    def init(self, static, mesh, keys, numeric, shared_key, data):
        return self._get("init", static, mesh, (keys, numeric, shared_key, data))(keys, numeric, shared_key, data)

    def chunk(self, static, mesh, carry, numeric, keys, steps, shared_key, data):
        args = (carry, numeric, keys, steps, shared_key, data)
        return self._get("chunk", static, mesh, args)(*args)

    def eval(self, static, mesh, carry, numeric, keys, eval_data):
        args = (carry, numeric, keys, eval_data)
        return self._get("eval", static, mesh, args)(*args)

    def eval_shape_init(self, static, keys, numeric, shared_key, data):
        block_init = self._block_fns(static)[0]
        # shapes only: sharded (Explicit) inputs outside shard_map would need sharding types
        args = jax.tree.map(lambda a: jax.ShapeDtypeStruct(np.shape(a), a.dtype), (keys, numeric, shared_key, data))
        return jax.eval_shape(block_init, *args)[0]

    def chunk_memory(self, static, rows: int, dtypes: dict, data) -> int:
        """Device bytes of the chunk program for ``rows`` trials (XLA's memory analysis);
        ``dtypes`` maps each traced hyperparameter to its dtype."""
        block_init, block_chunk, _ = self._block_fns(static)
        numeric = {k: jax.ShapeDtypeStruct((rows,), dtype) for k, dtype in dtypes.items()}
        keys = jax.ShapeDtypeStruct((rows, *jax.random.PRNGKey(0).shape), jnp.uint32)
        shared = jax.ShapeDtypeStruct(jax.random.PRNGKey(0).shape, jnp.uint32)
        carry = jax.eval_shape(block_init, keys, numeric, shared, data)[0]
        steps = jax.ShapeDtypeStruct((rows,), jnp.int32)
        mem = jax.jit(block_chunk).lower(carry, numeric, keys, steps, shared, data).compile().memory_analysis()
        return int(mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes
                   - mem.alias_size_in_bytes)
