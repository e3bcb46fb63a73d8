"""One sweep in progress: its blocks, ledger and strategy state, applied and trained.

The runner drives it (ask the strategy, ``apply`` the plan, ``train_chunk``, tell);
this module executes: starting configurations (``init`` and the step-0 evaluation),
repacking survivors, training and evaluating every block (one dispatch each: the
evaluation is inside the programs), timing compilation and training apart, and saving or
restoring the whole state.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from .._schedule_free import eval_params_or_same, has_schedule_free
from . import _blocks, _buckets, _checkpoint, _mesh
from . import _run_setup as _setup
from ._ledger import OK, Ledger
from ._probe import check_values
from ._strategy import Plan, Stop, Strategy, StrategyState, stops
from ._result import SweepResult
from ._structure import Layout, structure_key

_SHARED = 0x5A4ED  # folded into the training root for the key of shared batches


class Loop:
    """The mutable state of one ``Runner.run``."""

    def __init__(self, runner, space, samples, start, seeds, root, train_root, mesh, width, layouts):
        self.runner, self.space, self.samples, self.start_id, self.seeds = runner, space, list(samples), start, seeds
        self.pool = len(samples)  # the sampled configurations; those a strategy proposes follow
        self.root, self.train_root, self.mesh, self.width = root, train_root, mesh, width
        self.budget_stopped: list = []  # configurations a time budget stopped
        self.layouts = layouts  # structure key -> Layout (the programs it trains in)
        self.ledger = Ledger(len(samples), seeds, runner.diverge_factor)
        self.blocks, self.running, self.state, self.chunks = [], [], None, 0
        self.row_steps = 0  # steps of every row computed, idle and padding rows included
        self.final, self.keep = {}, None  # trial -> (params, model state) on the host; how many configs to keep
        self.timings = {"compile": 0.0, "train": 0.0}  # the evaluations run inside the programs
        self.feeder = None  # the data argument of each chunk (``open_data``)
        self.eval_data = _mesh.replicate(runner.eval_data, mesh)
        self.shared_key = _mesh.replicate(jax.random.fold_in(train_root, _SHARED), mesh)

    # -- bookkeeping -------------------------------------------------------------------

    @property
    def data(self):
        return self.feeder.current()

    def open_data(self) -> None:
        """Start feeding data at this run's position: a stream is read from the batch
        after the chunks already trained (a resumed run skips what it trained on)."""
        r = self.runner
        self.feeder = r.feed.open(self.mesh, self.chunks * r.chunk_steps, r.steps)

    def close_data(self) -> None:
        if self.feeder is not None:
            self.feeder.close()

    @property
    def step(self) -> int:
        return max((int(b.steps[0]) for b in self.blocks), default=0)

    def alive(self) -> int:
        return len(self.running)

    def _timed(self, kind: str, call):
        """Run ``call`` to completion; its seconds go to ``kind``, minus any compilation."""
        programs = self.runner.programs
        compiled, t0 = programs.seconds, time.perf_counter()
        out = jax.block_until_ready(call())
        spent = programs.seconds - compiled
        self.timings["compile"] += spent
        self.timings[kind] += time.perf_counter() - t0 - spent
        return out

    def _metric(self, metric, fallback) -> tuple:
        """``(ranked, every)``: the block's ranking metric on the host (``evaluate``'s, or
        ``fallback`` without one) and, where ``evaluate`` returns a dict, each of its entries."""
        if metric is None:
            return fallback, {}
        if isinstance(metric, dict):
            every = {k: _mesh.to_host(v).astype(np.float64) for k, v in metric.items()}
            return every[self.runner.metric], every
        return _mesh.to_host(metric).astype(np.float64), {}

    # -- applying a plan ---------------------------------------------------------------

    def _collect(self, trials: set) -> None:
        """Copy the params (and model state) of ``trials`` to the host, as they stop."""
        for b in self.blocks:
            rows = [j for j, t in enumerate(b.trials) if int(t) in trials]
            if not rows:
                continue
            params, mstate, ostate = b.carry
            if has_schedule_free(ostate):  # hand back the average, the params that were evaluated
                params = jax.vmap(eval_params_or_same)(ostate, params)
            host = jax.tree.map(_mesh.to_host, (params, mstate))
            members = _mesh.to_host(b.extent)[:, 0]
            n_params = len(jax.tree.leaves(params))
            for j in rows:  # each trial at its own sizes
                p, ms = jax.tree.map(lambda a, j=j: np.array(a[j]), host)
                self.final[int(b.trials[j])] = (b.layout.unpad(p, int(members[j])),
                                                b.layout.unpad(ms, int(members[j]), n_params))

    def budget_stop(self) -> None:
        """The time budget is spent: every running configuration stops where it is."""
        self.budget_stopped = list(self.running)
        self.apply(Plan(stop=tuple(Stop(c, "budget") for c in self.running)))

    def apply(self, plan) -> None:
        halts = stops(plan)
        for c, reason in halts:
            t = self.ledger.trials_of(c)[0]
            self.ledger.stop(c, self.ledger.history[t]["step"][-1], reason)
        if halts and self.keep != 0:
            self._collect({t for c, _ in halts for t in self.ledger.trials_of(c)})
        if halts:
            stopped = {c for c, _ in halts}
            self.running = [c for c in self.running if c not in stopped]
            keep = {t for c in self.running for t in self.ledger.trials_of(c)}
            self.blocks = _blocks.repack(self.blocks, keep, self.width, self.mesh)
        if plan.clone:
            self._clone(plan.clone)
        if plan.start:
            begun = bool(self.blocks)
            self._start(self._number(plan.start))
            if begun:  # new trials fill the rows stops freed: part-full blocks merge
                keep = {t for c in self.running for t in self.ledger.trials_of(c)}
                self.blocks = _blocks.repack(self.blocks, keep, self.width, self.mesh)

    def _number(self, starts) -> list:
        """Pool indices as they are; each new configuration (a dict) numbered after the
        existing ones, checked against the space, and given room in the ledger."""
        out = []
        for s in starts:
            if isinstance(s, dict):
                _setup.given_trials("Runner: a strategy's Plan.start", self.space, [s])
                check_values("Runner: a strategy's Plan.start", self.runner, self.space, [s],
                             [self.start_id + len(self.samples)])
                self.samples.append(dict(s))
                self.ledger.add(1)
                s = len(self.samples) - 1
            elif isinstance(s, bool) or not isinstance(s, (int, np.integer)) or not 0 <= s < len(self.samples):
                raise ValueError(f"Runner: a strategy's Plan.start holds {s!r}; pass indices of the "
                                 f"{len(self.samples)} configurations or hyperparameter dicts.")
            out.append(int(s))
        return out

    def layout_of(self, hp: dict):
        """The programs a configuration trains in; a structure no plan saw (a proposed
        configuration's) gets programs of its own."""
        static = self.space.static(hp)
        key = structure_key(static)
        if key not in self.layouts:
            self.layouts[key] = Layout.single(static)
        return self.layouts[key]

    def _rows(self) -> dict:
        """trial -> (block, row) for every running trial."""
        return {int(t): (b, j) for b in self.blocks for j, t in enumerate(b.trials)}

    def _clone(self, clones) -> None:
        """Each ``(dst, src, hyperparams)``: dst's replicas take src's replicas' params,
        model and optimizer state (one gather per pair of blocks, on the device) and
        dst's numeric hyperparameters become ``hyperparams``."""
        where, pairs = self._rows(), []
        for dst, src, hp in clones:
            for r in range(self.seeds):
                d, s = dst * self.seeds + r, src * self.seeds + r
                if d not in where or s not in where:
                    raise ValueError(f"Runner: the strategy cloned configuration {src} into {dst}, but both must "
                                     "be running.")
                (db, dj), (sb, sj) = where[d], where[s]
                if db.layout.key != sb.layout.key:
                    raise ValueError(f"Runner: the strategy cloned configuration {src} into {dst}, which trains in "
                                     f"other programs ({sb.static} vs {db.static}); clone within a structure.")
                pairs.append((db, dj, sb, sj))
                # padded members share programs: the source's sizes go along with its weights
                sizes = {k: v for k, v in self.structure(s).items() if k not in self.space.traced_names}
                why = "schedule" if dst == src else (self.ledger.status[d] if self.ledger.status[d] != OK
                                                     else "exploited")
                self.ledger.clone(d, s, int(db.steps[dj]), self.start_id + src, {**sizes, **hp}, why)
        _blocks.copy_rows(pairs, self.mesh)
        for dst, _, hp in clones:
            for r in range(self.seeds):
                b, j = where[dst * self.seeds + r]
                for k, v in hp.items():
                    values = np.array(_mesh.to_host(b.numeric[k]))
                    values[j] = v
                    b.numeric[k] = _mesh.place(values, self.mesh)

    def structure(self, trial: int) -> dict:
        """A trial's structural values now: its sample's, or a PBT source's it took on."""
        static = self.space.static(self.samples[trial // self.seeds])
        for copy in self.ledger.lineage[trial]:
            static.update({k: v for k, v in copy.hyperparams.items() if k in static})
        return static

    def _start(self, configs) -> None:
        r, dims = self.runner, self.space.dimensions
        groups = {}
        for c in configs:
            layout = self.layout_of(self.samples[c])
            groups.setdefault(layout.key, (layout, []))[1].append(c)
        for layout, members in groups.values():
            trials = [t for c in members for t in self.ledger.trials_of(c)]
            numeric = {k: np.asarray([self.samples[t // self.seeds][k] for t in trials], dims[k].dtype)
                       for k in self.space.traced_names}
            extent = np.stack([layout.extent(self.space.static(self.samples[t // self.seeds])) for t in trials])
            pairs = np.asarray([(self.start_id + t // self.seeds, t % self.seeds) for t in trials], np.int64)
            for b in _blocks.new(layout, trials, numeric, extent, pairs, self.train_root, self.width, self.mesh):
                self._timed("train", lambda: r.programs.prepare(
                    b.layout, self.mesh, b.keys, b.numeric, b.extent, self.shared_key, self.data, self.eval_data))
                b.carry, loss0, metric0 = self._timed("train", lambda: r.programs.init(
                    b.layout, self.mesh, b.keys, b.numeric, b.extent, self.shared_key, self.data, self.eval_data))
                loss0 = _mesh.to_host(loss0).astype(np.float64)
                metric0, every = self._metric(metric0, loss0)
                for j, t in enumerate(b.trials):
                    self.ledger.record(int(t), 0, loss0[j:j + 1], float(metric0[j]),
                                       {k: float(v[j]) for k, v in every.items()})
                self.blocks.append(b)
        self.running += list(configs)

    # -- training ----------------------------------------------------------------------

    def train_chunk(self) -> list:
        """Every block one chunk further, evaluated; returns this chunk's finite ok metrics.

        Every block's chunk is dispatched before any result is read, so the device runs
        them back to back while the host waits once, not once per block."""
        r = self.runner
        for b in self.blocks:
            if r.shared_batches and len(set(b.steps.tolist())) != 1:
                raise RuntimeError("Runner: shared_batches needs every row of a block at the same step; the "
                                   "strategy started trials at different steps in one block.")

        def dispatch():
            out = []
            for b in self.blocks:
                steps = _mesh.place(b.steps.astype(np.int32), self.mesh)
                b.carry, losses, metric = r.programs.chunk(b.layout, self.mesh, b.carry, b.numeric, b.extent,
                                                           b.keys, steps, self.shared_key, self.data, self.eval_data)
                out.append((losses, metric))
            return out

        for b, (losses, metric) in zip(self.blocks, self._timed("train", dispatch)):
            losses = _mesh.to_host(losses).astype(np.float64)
            metric, every = self._metric(metric, losses.mean(1))
            b.steps = b.steps + r.chunk_steps
            for j, t in enumerate(b.trials):
                self.ledger.record(int(t), int(b.steps[j]), losses[j], float(metric[j]),
                                   {k: float(v[j]) for k, v in every.items()})
        self.chunks += 1
        self.row_steps += sum(b.width for b in self.blocks) * r.chunk_steps
        self.feeder.advance()
        reports = [self.ledger.report(c) for c in self.running]
        return [x.metric for x in reports if x.status == OK and np.isfinite(x.metric)]

    # -- the outcome -------------------------------------------------------------------

    def result(self, strategy) -> SweepResult:
        # a pool configuration the strategy never started is not a result
        begun = [c for c in range(len(self.samples)) if self.ledger.history[c * self.seeds]["step"]]
        configs = [{"id": self.start_id + c, "hyperparams": self.samples[c], **self.ledger.configuration(c)}
                   for c in begun]
        result = SweepResult(configs, self.runner.goal, self.ledger.trial_steps, timings=dict(self.timings),
                             space=self.space, root=np.asarray(self.root).tolist(), seeds=self.seeds,
                             width=self.width, row_steps=self.row_steps)
        for c, config in zip(begun, configs):
            lineage = self.ledger.lineage[c * self.seeds]
            if lineage:  # the configuration's weights were replaced during training (PBT)
                config["lineage"] = [{"step": 0, "from": None, "hyperparams": dict(self.samples[c])}] + [
                    {"step": copy.step, "from": copy.source, "hyperparams": {**self.samples[c], **copy.hyperparams},
                     "reason": copy.reason}
                    for copy in lineage]
                config["final_hyperparams"] = dict(config["lineage"][-1]["hyperparams"])
        result.budget_spent = bool(self.budget_stopped)
        kept = {t["id"] for t in result.top(len(configs) if self.keep is None else self.keep)}
        result.models = {(self.start_id + t // self.seeds, t % self.seeds): (v if self.runner.has_state else v[0])
                         for t, v in self.final.items() if self.start_id + t // self.seeds in kept}
        return result

    # -- checkpoints -------------------------------------------------------------------

    def save(self, store, settings: dict) -> None:
        blocks = [{**b.layout.describe(), "trials": b.trials.tolist(), "steps": b.steps.tolist(),
                   "numeric": sorted(b.numeric)} for b in self.blocks]
        finals = sorted(self.final)
        layouts = list({lay.key: lay.describe() for lay in self.layouts.values()}.values())
        meta = {"settings": settings, "blocks": blocks, "ledger": self.ledger.state(), "final": finals,
                "layouts": layouts,
                "strategy": self.state.to_json() if isinstance(self.state, StrategyState) else self.state,
                "proposed": self.samples[self.pool:], "running": self.running, "chunks": self.chunks,
                "timings": self.timings, "row_steps": self.row_steps}
        store.save(json.loads(json.dumps(meta, default=float)),
                   [jax.tree.leaves((b.numeric, b.extent, b.keys, b.carry)) for b in self.blocks],
                   [jax.tree.leaves(self.final[t]) for t in finals])

    def _shapes(self, layout, width: int, names) -> tuple:
        """The (numeric, extent, keys, carry) shapes of a block of ``width`` rows of one layout."""
        numeric = {k: jax.ShapeDtypeStruct((width,), self.space.dimensions[k].dtype) for k in names}
        extent = jax.ShapeDtypeStruct((width, 1 + len(layout.axes)), jnp.int32)
        keys = jax.ShapeDtypeStruct((width, *jax.random.PRNGKey(0).shape), jnp.uint32)
        shared = jax.ShapeDtypeStruct(keys.shape[1:], jnp.uint32)
        return numeric, extent, keys, self.runner.programs.eval_shape_init(layout, keys, numeric, extent, shared,
                                                                           self.runner.feed.spec())

    def restore(self, meta: dict, store, settings: dict, strategy) -> None:
        _checkpoint.check_settings(store.path, meta["settings"], json.loads(json.dumps(settings, default=float)))
        self.samples += [dict(h) for h in meta.get("proposed", [])]
        self.ledger = Ledger.from_state(self.pool, self.seeds, self.runner.diverge_factor, meta["ledger"])
        if isinstance(strategy, Strategy):
            try:
                self.state = strategy.state_from_json(meta["strategy"])
            except ValueError as e:
                raise _checkpoint.CheckpointError(f"{store.path}: {e}") from None
        else:
            self.state = meta["strategy"]
        self.running, self.chunks = meta["running"], meta["chunks"]
        self.timings, self.row_steps = meta["timings"], meta.get("row_steps", 0)
        layouts, saved = {}, []  # each saved block's layout, one object per program
        for spec in meta["blocks"]:
            key = (structure_key(spec["static"]), tuple(structure_key(m) for m in spec["members"]))
            if key not in layouts:
                layouts[key] = _buckets.layout_from(self.runner, self.space, spec)
            saved.append(layouts[key])
        for k, layout in list(self.layouts.items()):  # trials not started yet train in the saved programs
            self.layouts[k] = layouts.get(layout.key, layout)
        shapes = [self._shapes(layout, len(spec["steps"]), spec["numeric"])
                  for layout, spec in zip(saved, meta["blocks"])]
        finals = []  # the (params, model state) shapes of trials that had stopped: one row of their structure
        for t in meta.get("final", []):
            params, mstate, _ = self._shapes(Layout.single(self.structure(t)), 1, self.space.traced_names)[3]
            finals.append(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape[1:], a.dtype), (params, mstate)))
        blocks, final = store.arrays([jax.tree.leaves(x) for x in shapes], [jax.tree.leaves(x) for x in finals],
                                     self.mesh)
        for spec, layout, tree, leaves in zip(meta["blocks"], saved, shapes, blocks):
            numeric, extent, keys, carry = jax.tree.unflatten(jax.tree.structure(tree), leaves)
            self.blocks.append(_blocks.Block(layout, spec["trials"], spec["steps"], numeric, extent, keys, carry))
        for t, tree, leaves in zip(meta.get("final", []), finals, final):
            self.final[t] = jax.tree.unflatten(jax.tree.structure(tree), leaves)
