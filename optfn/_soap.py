"""SOAP (Vyas et al., 2024): Adam run in the eigenbasis of Shampoo's preconditioner.

Shampoo keeps, per weight matrix ``G`` (``m x n``), the averages ``L`` of ``G G^T`` and
``R`` of ``G^T G``. SOAP rotates each gradient into their eigenbases,
``G' = Q_L^T G Q_R``, runs Adam's second moment there, and rotates the step back; the
eigenbases are refreshed every ``precondition_frequency`` steps.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from . import _check
from ._base import GradientTransformation
from ._chain import chain
from ._moments import bias_correction, ema, second_moment
from ._numerics import as_dtype, compute_dtype, zero_count
from ._scale import scale_by_learning_rate
from ._weight_decay import add_decayed_weights


class ScaleBySoapState(NamedTuple):
    """The count (the first call only records the preconditioner), the first moment ``mu`` in
    the params' coordinates, the second moment ``nu`` in the rotated ones, the
    preconditioner averages ``gg`` and their eigenbases ``q`` (per leaf, one per axis;
    ``None`` for an axis longer than ``max_precond_dim``)."""

    count: jax.Array
    mu: Any
    nu: Any
    gg: Any
    q: Any


def _rotate(x, qs, back: bool):
    """``x`` contracted with ``Q_i`` (or ``Q_i^T`` going back) on each axis ``i`` that has one.
    Each ``tensordot`` on axis 0 moves the result's new axis last, so after all axes the
    order is the original one."""
    for q in qs:
        if q is None:
            x = jnp.moveaxis(x, 0, -1)
        else:
            x = jnp.tensordot(x, q, axes=[[0], [1 if back else 0]])
    return x


def _outer(g, axis):
    """``G G^T`` along ``axis``: the contraction over every other axis."""
    others = [a for a in range(g.ndim) if a != axis]
    return jnp.tensordot(g, g, axes=[others, others])


def _eigenbasis(gg):
    # eigenvectors by decreasing eigenvalue; a tiny shift keeps eigh away from an exact 0 matrix
    _, vectors = jnp.linalg.eigh(gg + 1e-30 * jnp.eye(gg.shape[0], dtype=gg.dtype))
    return vectors[:, ::-1]


def scale_by_soap(b1=0.95, b2=0.95, shampoo_beta=None, eps=1e-8, precondition_frequency: int = 10,
                  max_precond_dim: int = 10000) -> GradientTransformation:
    r"""SOAP's scaling (Vyas et al., 2024, Algorithm 3, eigenbases by ``eigh``).

    For a leaf ``G`` with an eigenbasis ``Q_i`` per axis (a matrix: ``Q_L``, ``Q_R``), the
    first call only sets ``L_i = (1 - \beta_s)\, G G^T`` (along axis ``i``) and ``Q_i =
    \mathrm{eig}(L_i)``, and returns 0. Then, with ``t`` counting from 1:

    $$
    G' = Q_L^\top G Q_R, \quad m_t = b_1 m_{t-1} + (1 - b_1) G, \quad
    v_t = b_2 v_{t-1} + (1 - b_2) G'^2,
    $$
    $$
    u_t = \frac{\sqrt{1 - b_2^t}}{1 - b_1^t}\; Q_L \frac{Q_L^\top m_t Q_R}{\sqrt{v_t} + \epsilon} Q_R^\top,
    $$

    after which ``L_i \leftarrow \beta_s L_i + (1 - \beta_s) G G^T`` and, every
    ``precondition_frequency`` steps, ``Q_i = \mathrm{eig}(L_i)`` (eigenvectors by
    decreasing eigenvalue, so ``v``'s coordinates keep their directions). An axis longer
    than ``max_precond_dim`` is not rotated; a vector leaf is therefore plain Adam.
    ``\beta_s = b_2`` by default. The decays and ``eps`` may be traced; the
    frequency and the dimension bound are static. Under ``vmap`` (a sweep) XLA computes
    both sides of the refresh condition, so the eigendecompositions run every step.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_soap()
        >>> s = t.init(jnp.zeros((2, 2)))
        >>> g = jnp.array([[3.0, 0.0], [0.0, 0.5]])
        >>> u, s = t.update(g, s)   # the first call records L and R only
        >>> print(t.update(g, s)[0].round(3))   # in the eigenbasis the first Adam step is sign(g')
        [[1. 0.]
         [0. 1.]]

    References:
        Vyas, Morwani, Zhao, Kwun, Shapira, Brandfonbrener, Janson and Kakade, *SOAP:
        Improving and Stabilizing Shampoo using Adam*, ICLR 2025 (arXiv:2409.11321).
    """
    fn = "scale_by_soap"
    _check.decay_rate(fn, "b1", b1, high_open=True)
    _check.decay_rate(fn, "b2", b2, high_open=True)
    if shampoo_beta is not None:
        _check.decay_rate(fn, "shampoo_beta", shampoo_beta, high_open=True)
    _check.non_negative(fn, "eps", eps)
    for name, value in (("precondition_frequency", precondition_frequency), ("max_precond_dim", max_precond_dim)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TypeError(f"{fn}: {name} must be a positive int (it is static: it decides what is computed), "
                            f"got {name}={value!r}.")
    beta_s = b2 if shampoo_beta is None else shampoo_beta

    def axes(p):
        return [jnp.ndim(p) > 1 and n <= max_precond_dim for n in jnp.shape(p)]

    def init(params):
        _check.float_params(fn, params)
        leaves, treedef = jax.tree.flatten(params)
        zeros = [jnp.zeros(jnp.shape(p), compute_dtype(p.dtype)) for p in leaves]
        gg = [tuple(jnp.zeros((n, n), compute_dtype(p.dtype)) if on else None for n, on in zip(jnp.shape(p), axes(p)))
              for p in leaves]
        q = [tuple(jnp.eye(n, dtype=compute_dtype(p.dtype)) if on else None for n, on in zip(jnp.shape(p), axes(p)))
             for p in leaves]
        mu = treedef.unflatten([jnp.zeros(jnp.shape(p), p.dtype) for p in leaves])
        return ScaleBySoapState(zero_count(), mu, treedef.unflatten(zeros), gg, q)

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, ScaleBySoapState, updates, "nu",
                                {"b1": b1, "b2": b2, "shampoo_beta": beta_s, "eps": eps})
        first = state.count == 0
        t = state.count  # Adam's step count: the first call is not a step
        refresh = jnp.logical_or(first, (t % precondition_frequency) == 0)
        leaves, treedef = jax.tree.flatten(updates)
        out, mus, nus, ggs, qs = [], [], [], [], []
        for g, m, v, gg, q in zip(leaves, treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu),
                                  state.gg, state.q):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            # step 0 sets the preconditioner from this gradient; steps >= 1 use the one before it
            new_m = jnp.where(first, m.astype(ct), ema(m, g32, b1))
            new_v = jnp.where(first, v, second_moment(v, _rotate(g32, q, back=False), b2))
            scale = jnp.sqrt(bias_correction(b2, t, ct)) / bias_correction(b1, t, ct)
            step = _rotate(_rotate(new_m, q, back=False) / (jnp.sqrt(new_v) + as_dtype(eps, ct)), q, back=True)
            u = jnp.where(first, 0, scale * step)
            new_gg = tuple(None if a is None else ema(a, _outer(g32, i), beta_s) for i, a in enumerate(gg))
            new_q = tuple(None if old is None else jnp.where(refresh, _eigenbasis(a), old) for a, old in zip(new_gg, q))
            out.append(u.astype(g.dtype))
            mus.append(new_m.astype(m.dtype))
            nus.append(new_v)
            ggs.append(new_gg)
            qs.append(new_q)
        return treedef.unflatten(out), ScaleBySoapState(count, treedef.unflatten(mus),
                                                        treedef.unflatten(nus), ggs, qs)

    return GradientTransformation(init, update)


def soap(learning_rate=3e-3, b1=0.95, b2=0.95, shampoo_beta=None, eps=1e-8, weight_decay=0.01,
         precondition_frequency: int = 10, max_precond_dim: int = 10000, mask=None) -> GradientTransformation:
    r"""SOAP: ``W \leftarrow W - lr\,(u_t + wd\,W)``, ``u_t`` from ``scale_by_soap``; the
    defaults are the paper's code's (``b1 = b2 = 0.95``, frequency 10, ``wd = 0.01``).
    optax has no SOAP; the reference is the authors' PyTorch code, with ``eigh`` for the
    refreshes where it takes one QR power step, and the weight decay on the params before
    the step (``add_decayed_weights``, as AdamW) where it decays after. Every numeric
    argument may be traced but the frequency and the dimension bound.

    Example:
        >>> import jax, jax.numpy as jnp, optfn
        >>> opt = optfn.soap(0.1, weight_decay=0.0)
        >>> w = jnp.array([[1.0, 2.0], [3.0, 4.0]])
        >>> s = opt.init(w)
        >>> for _ in range(60):
        ...     u, s = opt.update(jax.grad(lambda w: (w ** 2).sum())(w), s, w)
        ...     w = optfn.apply_updates(w, u)
        >>> bool(jnp.abs(w).max() < 0.1)   # from 4
        True
    """
    _check.learning_rate("soap", learning_rate)
    _check.weight_decay("soap", weight_decay)
    return chain(scale_by_soap(b1, b2, shampoo_beta, eps, precondition_frequency, max_precond_dim),
                 add_decayed_weights(weight_decay, mask), scale_by_learning_rate(learning_rate))
