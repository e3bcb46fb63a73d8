"""Is padding exact for this model and optimizer? A probe on real numbers, per layout.

For a layout's smallest member (the most padding), the probe runs two training steps
twice, on the first batch, from the member's own init: once at the member's own sizes,
once zero-padded inside the layout's program functions (traced at the largest sizes,
gradients and updates masked as the programs mask them); then three more optimizer
steps on random gradients of magnitudes 1, 1e3 and 1e-3, so a rule that mixes entries
only past a threshold (Adafactor's update clipping by RMS) is caught too. It compares
the loss, every gradient, the model state, every optimizer update and the evaluation
metric, and names the first that differs (beyond float32 rounding: ``rtol`` of the
entry's scale). A LayerNorm or a mean over the padded axis changes the loss; an
optimizer that averages over an axis (Adafactor's factored moments and its update
clipping) or scales by a shape changes the updates.

A probe is evidence, not proof: a model whose padded entries matter only on inputs
the first batch does not have could pass it. Models built from dense, convolutional
and elementwise layers with zero-padded widths, and optimizers that act per entry or
through norms of whole leaves, pass it because they are exact.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._apply_updates import apply_updates

RTOL = 2e-4  # float32 sums taken in another order (a GEMM over more, zero, terms) stay far inside this
_STEPS = 2
_SCALES = (1.0, 1e3, 1e-3)


def _far(own, padded) -> bool:
    own, padded = np.asarray(own, np.float64), np.asarray(padded, np.float64)
    if own.shape != padded.shape:
        return True
    if not (np.isfinite(own).all() and np.isfinite(padded).all()):
        return not np.array_equal(np.isfinite(own), np.isfinite(padded))
    scale = max(float(np.max(np.abs(own), initial=0.0)), 1e-30)
    return bool(np.max(np.abs(own - padded), initial=0.0) > RTOL * scale + 1e-7)


def _first_difference(what: str, own, padded_cut) -> Optional[str]:
    own_leaves = jax.tree_util.tree_flatten_with_path(own)[0]
    cut_leaves = jax.tree.leaves(padded_cut)
    for (path, a), b in zip(own_leaves, cut_leaves):
        if _far(a, b):
            return f"{what}{jax.tree_util.keystr(path)}"
    return None


def probe(runner, layout, member: int, numeric: dict, data) -> Optional[str]:
    """``None`` when member ``member`` of ``layout`` trains padded as it does alone; else
    what differs first (e.g. ``"the gradient of ['ln']['scale']"``). One small program,
    compiled and run once."""
    r = runner
    own_static = layout.members[member]
    f = r.programs._row_fns(layout)  # the padded side is computed as the programs compute it
    extent = jnp.asarray(layout.extents[member])
    n_params = layout.padded.n_params

    def cut(tree, offset=0):  # static slices: the member's own block of each leaf
        spec = layout.specs[member]
        leaves, treedef = jax.tree.flatten(tree)
        return jax.tree.unflatten(treedef, [x[tuple(slice(0, s) for s in spec.shapes[offset + i])]
                                            for i, x in enumerate(leaves)])

    def both(key, numeric, data):
        hp_own, hp_pad = {**own_static, **numeric}, f.hp_of(numeric, extent)
        out = r.init(jax.random.fold_in(key, 0), hp_own)
        params, mstate = out if r.has_state else (out, None)
        opt_own, opt_pad = r.optimizer(hp_own), r.optimizer(hp_pad)
        own = (params, mstate, opt_own.init(params))
        pp, pms = layout.pad((params, mstate))  # as the programs start a row: padded, then the optimizer's state
        pad = (pp, pms, opt_pad.init(pp))
        zero, stream = jnp.int32(0), jax.random.fold_in(key, 1)
        b_own = r.feed.batch(stream, zero, own_static, data, r.feed.plan(stream, zero, 1, own_static), zero)
        b_pad = f.batch(stream, zero, data, f.plan(stream, zero, 1, extent), zero, extent)
        found = []
        for t in range(_STEPS):
            t = jnp.int32(t)
            (p, ms, os_), (pp, pms, pos) = own, pad
            (v, ms2), g = jax.value_and_grad(lambda q: r.model.loss(q, ms, b_own, hp_own, key, t), has_aux=True)(p)
            (vp, pms2), gp = jax.value_and_grad(lambda q: f.loss(q, pms, b_pad, hp_pad, key, t, extent),
                                                has_aux=True)(pp)
            gp = layout.mask(gp, 0, extent)
            if r.has_state:
                pms2 = layout.mask(pms2, n_params, extent)
            u, os_ = opt_own.update(g, os_, p)
            up, pos = opt_pad.update(gp, pos, pp)
            up = layout.mask(up, 0, extent)
            found.append({"loss": (v, vp), "gradient": (g, cut(gp)),
                          "model state": (ms2, cut(pms2, n_params) if r.has_state else ms2),
                          "update": (u, cut(up))})
            own, pad = (apply_updates(p, u), ms2, os_), (apply_updates(pp, up), pms2, pos)
        # the optimizer alone, on random gradients of three magnitudes: a rule that mixes
        # entries only past a threshold (update clipping by RMS, a trust ratio's bounds)
        # shows here even where the model's first gradients stay below it
        (p, _, os_), (pp, _, pos) = own, pad
        for t, scale in enumerate(_SCALES):
            leaves, treedef = jax.tree.flatten(p)
            keys = jax.random.split(jax.random.fold_in(key, 100 + t), len(leaves))
            g = jax.tree.unflatten(treedef, [scale * jax.random.normal(k, x.shape, x.dtype)
                                             for k, x in zip(keys, leaves)])
            gp = layout.mask(layout.pad((g, None, None))[0], 0, extent)
            u, os_ = opt_own.update(g, os_, p)
            up, pos = opt_pad.update(gp, pos, pp)
            up = layout.mask(up, 0, extent)
            found.append({"update": (u, cut(up))})
            p, pp = apply_updates(p, u), apply_updates(pp, up)
        metric = None
        if r.evaluate is not None:
            metric = (r.model.evaluate(own[0], own[1], r.eval_data, hp_own, key),
                      r.model.evaluate(pad[0], pad[1], r.eval_data, hp_pad, key))
        return found, metric

    numeric = {k: jnp.asarray(v) for k, v in numeric.items()}
    args = (jax.random.PRNGKey(0), numeric, data)
    lowered = jax.jit(both).lower(*args)
    try:  # run once: compile fast (as init is), the numbers are the same ops'
        compiled = lowered.compile(compiler_options={"xla_backend_optimization_level": 0})
    except Exception:  # a backend that does not know the option
        compiled = lowered.compile()
    found, metric = jax.device_get(compiled(*args))
    for step, f in enumerate(found, 1):  # a leaf first: it says where the model or optimizer mixes sizes
        for what, name in (("gradient", "the gradient of "), ("model state", "the model state "),
                           ("update", f"the optimizer's update (step {step}) of ")):
            diff = _first_difference(name, *f[what]) if what in f else None
            if diff:
                return diff
        v, vp = f.get("loss", (0.0, 0.0))
        if _far(v, vp):
            return f"the loss (alone {float(v):.6g}, padded {float(vp):.6g})"
    if metric is not None:  # a dict evaluate: each entry
        own, pad = (metric if isinstance(metric[0], dict) else ({"": metric[0]}, {"": metric[1]}))
        for name in own:
            if _far(own[name], pad[name]):
                what = f"evaluate[{name!r}]" if name else "evaluate"
                return f"{what} (alone {float(own[name]):.6g}, padded {float(pad[name]):.6g})"
    return None
