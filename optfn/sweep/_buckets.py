"""Which structures share a program: size dimensions, buckets and their cost model.

1. **Size dimensions.** A structural dimension (``int_uniform`` or an int ``choice``,
   not ``batch_size``) is a *size* dimension when tracing ``init`` (``eval_shape``) at its
   smallest and largest sampled values gives the same tree, ranks and dtypes but other
   shapes. ``batch_size`` is one too where batches can be shared exactly
   (``_shares_batches``: data as arrays, ``sampling="epochs"``, no ``shared_batches``, no
   model state). Structures that differ only in size dimensions form a *group*.
2. **Buckets.** A group's members, ordered by parameter count, are cut into contiguous
   buckets; each bucket is one ``Layout``, trained in programs padded to its largest
   sizes (``_structure.py``).
3. **Cost model** (``padding="auto"``). A bucket costs the seconds to compile its
   programs plus the seconds to train its rows at its padded size::

       cost = sum over buckets B of  C + t * rows(B) * work(B) / work(largest)

   ``C`` is the seconds to compile a bucket's programs: its ``chunk`` program (the same
   for any bucket of the group), or its ``init``, whichever is longer (they compile side
   by side); ``init`` holds one branch per distinct width and costs its share of the
   group's. ``t`` is the time to train one row at the largest size for the whole run
   (``steps``). All are measured once on the group's largest layout
   (``Programs.time_chunk``: the programs are kept for the run, so one bucket holding
   the whole group costs no compile beyond the measurement's). ``rows(B)`` counts whole
   blocks (``width`` rows each, for the width a run with that many programs gets) and
   ``work`` is parameter entries times batch size, the compute of dense and
   convolutional layers. Every trial is counted for all ``steps`` (halving stops some
   earlier). A dynamic programme over the cut points finds the cheapest partition.
4. **Exactness.** Each bucket's smallest member is probed (``_exact.py``); where padding
   is not exact, the group falls back to one program per value, with one warning naming
   the dimension and what differed.
"""

import numbers
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from . import _exact, _mesh
from ._structure import Layout, carry_spec, structure_key

PADDINGS = ("auto", None)


class PaddingWarning(UserWarning):
    """Padding a size dimension would not be exact here: its values get their own programs."""


def check_padding(fn: str, padding):
    if padding in PADDINGS or (isinstance(padding, numbers.Integral) and not isinstance(padding, bool) and padding >= 1):
        return padding
    raise ValueError(f"{fn}: padding must be 'auto' (a cost model picks the buckets), None (one program per "
                     f"value) or an int >= 1 (that many buckets per group), got padding={padding!r}.")


class StructurePlan:
    """Which trials share which program: ``layouts`` maps each structure's key to its
    ``Layout``; ``rows()`` describes every program (values per bucket, trials, padded
    compute), ``estimate`` the cost model's figures, ``fallbacks`` the warnings given."""

    def __init__(self, layouts: dict, counts: dict, size_dims: list, estimate: dict, fallbacks: list):
        self.layouts, self.counts, self.size_dims = layouts, counts, size_dims
        self.estimate, self.fallbacks = estimate, fallbacks

    @property
    def programs(self) -> list:
        """The distinct layouts, in order of first use."""
        return list({id(v): v for v in self.layouts.values()}.values())

    def rows(self) -> list:
        out = []
        for layout in self.programs:
            n = sum(self.counts[structure_key(m)] for m in layout.members)
            own = sum(self.counts[structure_key(m)] * (s.param_elements if s else 1)
                      for m, s in zip(layout.members, layout.specs))
            padded = n * (layout.padded.param_elements if layout.padded else 1)
            values = {d: sorted({m[d] for m in layout.members}) for d in self.size_dims if d in layout.static}
            out.append({"static": layout.static, "values": values, "trials": n,
                        "padded_compute": padded / max(own, 1)})
        return out

    def __str__(self) -> str:
        lines = [f"{len(self.programs)} program(s) for {len(self.layouts)} structure(s)"
                 + (f"; size dimensions: {', '.join(self.size_dims)}" if self.size_dims else "")]
        for row in self.rows():
            vals = "; ".join(f"{d} {v[0]}..{v[-1]} ({len(v)} values)" for d, v in row["values"].items())
            lines.append(f"  {vals or row['static']}: {row['trials']} trials, padded compute "
                         f"x{row['padded_compute']:.2f}")
        if self.estimate:
            e = self.estimate
            lines.append(f"  cost model: compile {e['compile_s']:.2f} s per chunk program and "
                         f"{e['init_compile_s_per_value']:.2f} s per width in init, a trial's training "
                         f"{e['train_s_per_row']:.3g} s at the largest size; estimated {e['estimated_s']:.1f} s "
                         f"(one program per value: {e['unpadded_s']:.1f} s)")
        return "\n".join(lines)


def _size_dims(runner, space, statics, dtypes, spec) -> list:
    dims = []
    for name, d in space.dimensions.items():
        if d.vmapped or name == "batch_size" or d.kind not in ("int", "choice"):
            continue
        values = sorted({s[name] for s in statics})
        if len(values) < 2 or not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            continue
        lo, hi = (spec({**statics[0], name: v}) for v in (values[0], values[-1]))
        if lo.signature == hi.signature and lo.shapes != hi.shapes:
            dims.append(name)
    return dims


def _shares_batches(runner, space, statics) -> bool:
    """Whether several batch sizes can share a program: each row draws its own epochs'
    batches of its own size inside a batch of the largest (arrays, epoch sampling, each
    trial its own batches, no model state: batch statistics couple the examples)."""
    d = space.dimensions.get("batch_size")
    return (d is not None and not d.vmapped and len({s["batch_size"] for s in statics}) > 1 and runner.feed.epochs
            and not runner.shared_batches and not runner.has_state)


def _probed(runner, layout, numeric, data):
    """The exactness probe of ``layout``'s smallest member, once per layout and runner: a
    later run (a halving rung's repack, a zoomed round, ``confirm``, an Optuna batch)
    reuses its verdict, which is about the structure (the probe's values are the first
    sample's)."""
    if layout.key not in runner._probe_verdicts:
        runner._probe_verdicts[layout.key] = _exact.probe(runner, layout, 0, numeric, data)
    return runner._probe_verdicts[layout.key]


def _probe_data(runner):
    data = runner.feed.spec()
    if runner.feed.stream is None:
        return data
    key = jax.random.PRNGKey(0)  # a stream's batches are not read before training: stand-ins of their shapes
    return jax.tree.map(lambda a: (jax.random.normal(key, a.shape, a.dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                                   else jnp.zeros(a.shape, a.dtype)), data)


def _cut(costs, n: int) -> list:
    """Cheapest contiguous partition of ``n`` sorted members; ``costs(i, j)`` is members
    ``i..j-1`` as one bucket. Returns the bucket bounds."""
    best, back = [0.0] + [float("inf")] * n, [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):
            c = best[i] + costs(i, j)
            if c < best[j]:
                best[j], back[j] = c, i
    bounds, j = [], n
    while j:
        bounds.append((back[j], j))
        j = back[j]
    return bounds[::-1]


def plan(runner, space, samples: list, seeds: int, padding, mesh, width_for) -> StructurePlan:
    """Group ``samples``' structures into layouts. ``width_for(programs)`` is the block
    width a run with that many programs would use."""
    dtypes = {k: space[k].dtype for k in space.traced_names}
    statics, counts = {}, {}
    for h in samples:
        st = space.static(h)
        statics.setdefault(structure_key(st), st)
        counts[structure_key(st)] = counts.get(structure_key(st), 0) + seeds
    singles = {k: Layout.single(st) for k, st in statics.items()}
    if padding is None or len(statics) < 2:
        return StructurePlan(singles, counts, [], {}, [])
    specs = {}

    def spec(st):
        k = structure_key(st)
        if k not in specs:
            specs[k] = carry_spec(runner, st, dtypes)
        return specs[k]

    order = list(statics.values())
    size_dims = _size_dims(runner, space, order, dtypes, spec)
    if _shares_batches(runner, space, order):
        size_dims.append("batch_size")
    if not size_dims:
        return StructurePlan(singles, counts, [], {}, [])
    groups = {}
    for st in order:
        rest = {k: v for k, v in st.items() if k not in size_dims}
        groups.setdefault((structure_key(rest), spec(st).signature), []).append(st)

    def compute(st):  # parameter entries times examples per step: a step's work, relatively
        return spec(st).param_elements * st.get("batch_size", 1)

    layouts, estimate, fallbacks = dict(singles), {}, []
    first = {structure_key(space.static(h)): h for h in reversed(samples)}  # a sample of each structure
    data = _probe_data(runner)
    for members in groups.values():
        if len(members) < 2:
            continue
        members.sort(key=lambda st: (compute(st), structure_key(st)))

        def layout_of(ms):
            top = {**ms[0], **{d: max(m[d] for m in ms) for d in size_dims}}
            padded = spec(top)
            if padded.signature != spec(ms[0]).signature or any(
                    any(a > b for s, p in zip(spec(m).shapes, padded.shapes) for a, b in zip(s, p)) for m in ms):
                return None
            return Layout(ms, top, [spec(m) for m in ms], padded)

        whole = layout_of(members)
        why = "its shapes do not nest (a larger value gives a smaller array)" if whole is None else None
        if why is None:
            why = _probed(runner, whole, _numeric(space, first[structure_key(members[0])]), data)
        if why is not None:
            fallbacks.append(_warn(size_dims, members, why))
            continue
        if padding == "auto":
            bounds, estimate = _auto(runner, space, members, whole, counts, compute, mesh, width_for,
                                     first[structure_key(members[-1])])
        else:
            k = min(int(padding), len(members))
            edges = np.linspace(0, len(members), k + 1).round().astype(int)
            bounds = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
        chosen = []
        for i, j in bounds:
            layout = whole if (i, j) == (0, len(members)) else layout_of(members[i:j])
            if layout is not None and layout is not whole and len(layout.members) > 1:
                found = _probed(runner, layout, _numeric(space, first[structure_key(members[i])]), data)
                if found is not None:
                    layout, why = None, found
            chosen.append((members[i:j], layout))
        if any(layout is None for _, layout in chosen):
            fallbacks.append(_warn(size_dims, members, why or "its shapes do not nest"))
            continue
        for ms, layout in chosen:
            for m in ms:
                layouts[structure_key(m)] = layout
    return StructurePlan(layouts, counts, size_dims, estimate, fallbacks)


def layout_from(runner, space, desc: dict):
    """The ``Layout`` a checkpoint describes (``Layout.describe``)."""
    members = desc["members"]
    if len(members) < 2:
        return Layout.single(desc["static"])
    dtypes = {k: space[k].dtype for k in space.traced_names}
    return Layout(members, desc["static"], [carry_spec(runner, m, dtypes) for m in members],
                  carry_spec(runner, desc["static"], dtypes))


def layouts_from(runner, space, samples: list, saved: list) -> dict:
    """Each sample's structure key -> its ``Layout``, from a checkpoint's list of layouts."""
    out = {}
    for desc in saved:
        layout = layout_from(runner, space, desc)
        for m in layout.members:
            out[structure_key(m)] = layout
    for h in samples:  # a structure the checkpoint never started (it would be planned the same way)
        st = space.static(h)
        out.setdefault(structure_key(st), Layout.single(st))
    return out


def _numeric(space, h: dict) -> dict:
    return {k: np.asarray(h[k], space[k].dtype) for k in space.traced_names}


def _warn(size_dims, members, why: str) -> str:
    dims = [d for d in size_dims if len({m[d] for m in members}) > 1]
    text = (f"Runner: padding {', '.join(dims)} is not exact for this model and optimizer ({why} differs "
            f"between a trial padded and alone), so each of its {len(members)} values gets its own programs. "
            "Pass padding=None to silence this.")
    warnings.warn(text, PaddingWarning, stacklevel=4)
    return text


def _auto(runner, space, members, whole, counts, compute, mesh, width_for, sample) -> tuple:
    """The cost model's partition of one group (see the module's docstring)."""
    n = [counts[structure_key(m)] for m in members]
    work = [compute(m) for m in members]
    branch = [int(b) for b in whole.branch]  # members of one init branch (a width at several batch sizes)
    width1 = width_for(1)
    chunk_s, init_s, run_s = runner.programs.time_chunk(whole, mesh, width1, _numeric(space, sample),
                                                        _mesh.replicate(_probe_data(runner), mesh),
                                                        _mesh.replicate(runner.eval_data, mesh))
    per_branch = init_s / max(len(whole.init_members), 1)
    per_row = run_s / width1 * (runner.steps // runner.chunk_steps)
    largest = max(work[-1], 1)

    def cost(i, j, width):
        rows = -(-sum(n[i:j]) // width) * width
        compile_s = max(chunk_s, per_branch * len(set(branch[i:j])))  # the two compile side by side
        if (i, j) == (0, len(members)) and width == width1:
            compile_s = 0.0  # the measurement compiled exactly these programs: the run reuses them
        return compile_s + per_row * rows * work[j - 1] / largest

    best = None  # the width depends on how many programs share the trials: try each count
    for k in range(1, min(len(members), 16) + 1):
        width = width_for(k)
        bounds = _cut(lambda i, j: cost(i, j, width), len(members))
        total = sum(cost(i, j, width) for i, j in bounds)
        if best is None or total < best[1]:
            best = (bounds, total)
    width_all = width_for(len(members))
    unpadded = sum(cost(i, i + 1, width_all) for i in range(len(members)))
    return best[0], {"compile_s": chunk_s, "init_compile_s_per_value": per_branch, "train_s_per_row": per_row,
                     "estimated_s": best[1], "unpadded_s": unpadded, "buckets": len(best[0])}
