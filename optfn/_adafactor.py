"""Adafactor: factored second moments for matrices, memory sublinear in their size."""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _check, _moments
from ._base import EmptyState, GradientTransformation
from ._chain import chain
from ._ema import ema
from ._numerics import abs_sq, as_dtype, compute_dtype, zero_count
from ._scale import scale, scale_by_learning_rate
from ._weight_decay import add_decayed_weights


class FactoredState(NamedTuple):
    """The update count; per leaf the row and column statistics of a factored leaf, or
    the full second moment ``v`` of one that is not (the unused ones hold one zero)."""

    count: jax.Array
    v_row: Any
    v_col: Any
    v: Any


def _factored_dims(shape, factored: bool, min_dim_size_to_factor: int):
    """The two largest axes of a leaf whose second largest has ``>= min_dim_size_to_factor``."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _statistics_shapes(shape, factored: bool, min_dim_size_to_factor: int) -> tuple:
    """The shapes of a leaf's row and column statistics and full second moment; the unused
    ones are ``(1,)``. The row statistics drop the largest axis, the column ones the
    second largest (optax's layout)."""
    dims = _factored_dims(shape, factored, min_dim_size_to_factor)
    if dims is None:
        return (1,), (1,), tuple(shape)
    d1, d0 = dims
    return (tuple(s for i, s in enumerate(shape) if i != d0), tuple(s for i, s in enumerate(shape) if i != d1), (1,))


def scale_by_factored_rms(factored: bool = True, decay_rate=0.8, step_offset=0, min_dim_size_to_factor: int = 128,
                          epsilon=1e-30) -> GradientTransformation:
    r"""Adafactor's scaling (Shazeer & Stern, 2018, Algorithms 4 and 5).

    With ``\hat\beta_{2t} = 1 - t^{-c}`` (``c = decay_rate``, ``t`` counted from 1 after
    ``step_offset``) and ``G = g^2 + \epsilon``: a leaf whose two largest axes are at
    least ``min_dim_size_to_factor`` long keeps only row and column means,

    $$ R_t = \hat\beta_{2t} R_{t-1} + (1 - \hat\beta_{2t}) \,\mathrm{mean}_{col}(G), \quad
       C_t = \hat\beta_{2t} C_{t-1} + (1 - \hat\beta_{2t}) \,\mathrm{mean}_{row}(G), $$
    $$ u = g \Big/ \sqrt{R_t C_t / \mathrm{mean}(R_t)}; $$

    any other leaf keeps the full ``V_t = \hat\beta_{2t} V_{t-1} + (1 - \hat\beta_{2t}) G``
    and ``u = g / \sqrt{V_t}``.

    Args:
        factored: factor the second moments of matrices (``False``: never).
        decay_rate: ``c``, in [0, 1]; traceable.
        step_offset: steps to subtract from the count (fine-tuning restarts the decay);
            traceable.
        min_dim_size_to_factor: the second largest axis from which a leaf is factored.
        epsilon: added to ``g^2``, ``>= 0``; traceable.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_factored_rms()
        >>> print(t.update(jnp.array([0.5, -2.0]), t.init(jnp.zeros(2)), jnp.zeros(2))[0])
        [ 1. -1.]

    References:
        Shazeer and Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*, ICML 2018.
    """
    fn = "scale_by_factored_rms"
    _check.flag(fn, "factored", factored)
    _check.decay_rate(fn, "decay_rate", decay_rate)
    _check.hyperparameter(fn, "step_offset", step_offset)
    _check.non_negative(fn, "epsilon", epsilon)
    if isinstance(min_dim_size_to_factor, bool) or not isinstance(min_dim_size_to_factor, int) \
            or min_dim_size_to_factor < 1:
        raise ValueError(f"{fn}: min_dim_size_to_factor must be a positive int, got "
                         f"min_dim_size_to_factor={min_dim_size_to_factor!r}.")

    def init(params):
        _check.float_params(fn, params)

        def one(p):
            return tuple(jnp.zeros(s, p.dtype) for s in _statistics_shapes(p.shape, factored, min_dim_size_to_factor))

        leaves, tree = jax.tree.flatten(params)
        rows, cols, vs = zip(*[one(p) for p in leaves]) if leaves else ((), (), ())
        return FactoredState(zero_count(), tree.unflatten(rows), tree.unflatten(cols), tree.unflatten(vs))

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, FactoredState, updates, "v", {
            "decay_rate": decay_rate, "step_offset": step_offset, "epsilon": epsilon}, shapes=False)
        leaves, tree = jax.tree.flatten(updates)
        rows, cols, vs = (tree.flatten_up_to(x) for x in (state.v_row, state.v_col, state.v))
        out = []
        for g, r, c, v in zip(leaves, rows, cols, vs):
            if _statistics_shapes(g.shape, factored, min_dim_size_to_factor) != (r.shape, c.shape, v.shape):
                raise ValueError(f"{fn}: an update of shape {g.shape} does not fit the state (statistics "
                                 f"{r.shape}, {c.shape}, {v.shape}). Pass gradients shaped like the params the "
                                 "state was initialised with.")
            ct = compute_dtype(g.dtype)
            t = (state.count - as_dtype(step_offset, state.count.dtype) + 1).astype(ct)
            beta = 1 - t ** -as_dtype(decay_rate, ct)
            g32 = g.astype(ct)
            sq = abs_sq(g32) + as_dtype(epsilon, ct)
            dims = _factored_dims(g.shape, factored, min_dim_size_to_factor)
            if dims is None:
                new_v = _moments.ema(v, sq, beta)
                u = g32 * jax.lax.rsqrt(new_v)
                out.append((u.astype(g.dtype), r, c, new_v.astype(v.dtype)))
                continue
            d1, d0 = dims
            new_r, new_c = _moments.ema(r, jnp.mean(sq, axis=d0), beta), _moments.ema(c, jnp.mean(sq, axis=d1), beta)
            r_axis = d1 - 1 if d1 > d0 else d1  # d1 in the row statistics, which lost axis d0
            row_factor = jax.lax.rsqrt(new_r / jnp.mean(new_r, axis=r_axis, keepdims=True))
            u = g32 * jnp.expand_dims(row_factor, d0) * jnp.expand_dims(jax.lax.rsqrt(new_c), d1)
            out.append((u.astype(g.dtype), new_r.astype(r.dtype), new_c.astype(c.dtype), v))
        new = [tree.unflatten([o[i] for o in out]) for i in range(4)]
        return new[0], FactoredState(count, new[1], new[2], new[3])

    return GradientTransformation(init, update)


def _blockwise(fn: str, leaf_fn, needs_params: bool) -> GradientTransformation:
    def init(params):
        _check.float_params(fn, params)
        return EmptyState()

    def update(updates, state, params=None):
        _check.state_type(fn, state, EmptyState)
        if not needs_params:
            return jax.tree.map(leaf_fn, updates), state
        if params is None:
            raise ValueError(f"{fn}: update needs the current params; call update(grads, state, params).")
        _check.same_structure(fn, "updates", updates, "params", params)
        return jax.tree.map(leaf_fn, updates, params), state

    return GradientTransformation(init, update)


def clip_by_block_rms(threshold) -> GradientTransformation:
    r"""Scale each leaf down to a root mean square of at most ``threshold``:
    ``u / max(1, rms(u) / threshold)``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> print(optfn.clip_by_block_rms(1.0).update(jnp.array([3.0, -4.0]), optfn.EmptyState())[0])  # rms 3.54
        [ 0.8485 -1.1314]
    """
    fn = "clip_by_block_rms"
    _check.hyperparameter(fn, "threshold", threshold, low=0.0, low_open=True)

    def leaf(u):
        ct = compute_dtype(u.dtype)
        rms = jnp.sqrt(jnp.mean(abs_sq(u.astype(ct))))
        return (u.astype(ct) / jnp.maximum(1, rms / as_dtype(threshold, ct))).astype(u.dtype)

    return _blockwise(fn, leaf, needs_params=False)


def scale_by_param_block_rms(min_scale=1e-3) -> GradientTransformation:
    r"""Scale each leaf by its parameters' root mean square, at least ``min_scale``:
    ``u * max(rms(W), min_scale)`` (Adafactor's relative step size).

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_param_block_rms()
        >>> w = jnp.array([3.0, -4.0])
        >>> print(t.update(jnp.ones(2), t.init(w), w)[0])
        [3.5355 3.5355]
    """
    fn = "scale_by_param_block_rms"
    _check.non_negative(fn, "min_scale", min_scale)

    def leaf(u, p):
        ct = compute_dtype(u.dtype)
        rms = jnp.maximum(jnp.sqrt(jnp.mean(abs_sq(p.astype(ct)))), as_dtype(min_scale, ct))
        return (u.astype(ct) * rms).astype(u.dtype)

    return _blockwise(fn, leaf, needs_params=True)


def adafactor(learning_rate=None, min_dim_size_to_factor: int = 128, decay_rate=0.8, decay_offset=0,
              multiply_by_parameter_scale: bool = True, clipping_threshold=1.0, momentum=None,
              dtype_momentum: Any = jnp.float32, weight_decay_rate=None, eps=1e-30, factored: bool = True,
              weight_decay_mask=None) -> GradientTransformation:
    r"""Adafactor (Shazeer & Stern, 2018), with optax's names and defaults:

    ``chain(scale_by_factored_rms, clip_by_block_rms(clipping_threshold),
    scale_by_learning_rate(lr, flip_sign=False), scale_by_param_block_rms(),
    ema(momentum), add_decayed_weights(weight_decay_rate), scale(-1))``, each present
    only when its argument is not ``None`` (or ``multiply_by_parameter_scale``).

    Args:
        learning_rate: a number, traced array or schedule; ``None`` leaves the step at
            its relative size (``multiply_by_parameter_scale``).
        min_dim_size_to_factor, decay_rate, factored: see ``scale_by_factored_rms``.
        decay_offset: ``step_offset`` of ``scale_by_factored_rms``.
        multiply_by_parameter_scale: scale each leaf's step by its parameters' rms.
        clipping_threshold: ``clip_by_block_rms``'s threshold, or ``None``.
        momentum: an ``ema`` decay of the steps (not debiased), or ``None``.
        dtype_momentum: the momentum's dtype.
        weight_decay_rate: decoupled weight decay, or ``None``.
        eps: ``epsilon`` of ``scale_by_factored_rms``.
        weight_decay_mask: which params decay, as in ``add_decayed_weights``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.adafactor(0.1, multiply_by_parameter_scale=False)
        >>> w = jnp.zeros(2)
        >>> print(opt.update(jnp.array([0.5, -2.0]), opt.init(w), w)[0])
        [-0.1  0.1]

    References:
        Shazeer and Stern, *Adafactor: Adaptive Learning Rates with Sublinear Memory Cost*, ICML 2018.
    """
    fn = "adafactor"
    _check.flag(fn, "multiply_by_parameter_scale", multiply_by_parameter_scale)
    parts = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor, eps)]
    if clipping_threshold is not None:
        parts.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        parts.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        parts.append(scale_by_param_block_rms())
    if momentum is not None:
        parts.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        _check.weight_decay(fn, weight_decay_rate, "weight_decay_rate")
        parts.append(add_decayed_weights(weight_decay_rate, weight_decay_mask))
    parts.append(scale(-1))
    return chain(*parts)


