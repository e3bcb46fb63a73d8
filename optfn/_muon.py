"""Muon (Jordan et al., 2024): momentum orthogonalised by a Newton-Schulz iteration.

A weight matrix's update is replaced by the nearest semi-orthogonal matrix (all
singular values near 1), computed with five matrix products instead of an SVD; the
other leaves (biases, norms, embeddings of rank 1) take AdamW. ``MuonDimensionNumbers``
says which axes of a larger leaf (a convolution kernel, stacked layers) form the
matrix, as in optax.
"""

import math
from typing import Any, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from . import _check
from ._adam import adamw
from ._base import EmptyState, GradientTransformation
from ._chain import chain
from ._moments import ema, first_moment_estimate, zeros
from ._numerics import as_dtype, compute_dtype, map_leaves, zero_count
from ._partition import partition
from ._scale import scale_by_learning_rate
from ._weight_decay import add_decayed_weights

# Jordan's quintic: the slope at 0 is 3.4445, as large as keeps the iteration bounded
DEFAULT_NS_COEFFS = (3.4445, -4.775, 2.0315)


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a leaf are the matrix's rows (``reduction_axis``, the ``x`` of
    ``x @ W``) and columns (``output_axis``); ints or tuples of ints, negative counting
    from the end. Every other axis is a batch axis: each of its entries is a matrix of
    its own, orthogonalised separately. A conv kernel ``(h, w, in, out)`` is
    ``MuonDimensionNumbers((0, 1, 2), 3)``: one ``(h*w*in, out)`` matrix. As
    ``optax.contrib.MuonDimensionNumbers``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> dims = optfn.MuonDimensionNumbers(reduction_axis=1, output_axis=2)  # 4 stacked 3x5 matrices
        >>> t = optfn.scale_by_muon(weight_dimension_numbers=dims)
        >>> u, _ = t.update(jnp.ones((4, 3, 5)), t.init(jnp.zeros((4, 3, 5))))
        >>> u.shape
        (4, 3, 5)
    """

    reduction_axis: Union[int, Sequence[int]] = 0
    output_axis: Union[int, Sequence[int]] = 1


def _is_dims(x) -> bool:
    return x is None or isinstance(x, MuonDimensionNumbers)


class _Dims:
    """One leaf's dimension numbers as an opaque leaf (``None`` and a NamedTuple are pytrees)."""

    def __init__(self, dims):
        self.dims = dims


def _dims_tree(fn: str, spec, tree):
    """``tree``'s structure with each leaf's ``_Dims``: ``spec`` (a ``MuonDimensionNumbers``,
    a prefix tree of them and ``None``, or a function of ``tree`` giving one) broadcast."""
    spec = spec(tree) if callable(spec) else spec

    def spread(d, sub):
        if not _is_dims(d):  # e.g. an int: axes belong in MuonDimensionNumbers
            raise TypeError(f"{fn}: weight dimension numbers must be MuonDimensionNumbers or None at each leaf, "
                            f"got {d!r}; pass e.g. optfn.MuonDimensionNumbers(reduction_axis=0, output_axis=1).")
        return jax.tree.map(lambda _: _Dims(d), sub)

    try:
        return jax.tree.map(spread, spec, tree, is_leaf=_is_dims)
    except ValueError as e:
        raise ValueError(f"{fn}: weight dimension numbers must be a MuonDimensionNumbers or a tree of them (and "
                         f"None) with the params' structure, or a prefix of it; {str(e).splitlines()[0]}") from None


def _axes(fn: str, shape, dims) -> tuple:
    """``(batch, reduction, output)`` axes of a leaf of ``shape``, checked."""
    rank = len(shape)
    if dims is None:
        if rank != 2:
            raise ValueError(f"{fn}: a leaf of shape {tuple(shape)} needs MuonDimensionNumbers (which axes form the "
                             "matrix), or give it to AdamW (optfn.muon does so for a leaf whose numbers are None).")
        return (), (0,), (1,)
    out = []
    for name in ("reduction_axis", "output_axis"):
        axes = getattr(dims, name)
        axes = (axes,) if isinstance(axes, int) else tuple(axes)
        if not axes or any(isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank for a in axes):
            raise ValueError(f"{fn}: {name}={getattr(dims, name)!r} must be axes of the leaf of shape "
                             f"{tuple(shape)} (ints in [-{rank}, {rank})).")
        out.append(tuple(a % rank for a in axes))
    red, outs = out
    if set(red) & set(outs) or len(set(red)) < len(red) or len(set(outs)) < len(outs):
        raise ValueError(f"{fn}: {dims} names an axis twice for the leaf of shape {tuple(shape)}; the reduction "
                         "and output axes must be distinct.")
    return tuple(a for a in range(rank) if a not in red + outs), red, outs


def _as_matrices(x, axes):
    """``x`` as ``(batch, fan_in, fan_out)`` and the function that undoes it."""
    batch, red, outs = axes
    order = batch + red + outs
    sizes = [x.shape[a] for a in order]
    flat = (math.prod(sizes[:len(batch)]), math.prod(sizes[len(batch):len(batch) + len(red)]),
            math.prod(sizes[len(batch) + len(red):]))
    undo = tuple(order.index(a) for a in range(x.ndim))
    return x.transpose(order).reshape(flat), lambda y: y.reshape(sizes).transpose(undo)


class MuonState(NamedTuple):
    """The update count, the momentum ``mu`` and the Newton-Schulz coefficients (``(3,)``)."""

    count: jax.Array
    mu: Any
    ns_coeffs: jax.Array


def orthogonalize(x, coeffs, steps: int, eps):
    r"""``steps`` Newton-Schulz iterations on ``X = x / (\lVert x \rVert_F + \epsilon)``:
    ``X \leftarrow aX + (bA + cA^2)X`` with ``A = XX^\top``, on the wide orientation."""
    wide = x.shape[0] <= x.shape[1]
    y = x if wide else x.T
    y = y / (jnp.linalg.norm(y) + eps)
    a, b, c = coeffs[0], coeffs[1], coeffs[2]
    for _ in range(steps):  # unrolled: a handful of matmuls, and vmap sees straight-line code
        gram = y @ y.T.conj()
        y = a * y + (b * gram + c * gram @ gram) @ y
    return y if wide else y.T


def scale_by_muon(ns_coeffs=DEFAULT_NS_COEFFS, ns_steps: int = 5, beta=0.95, eps=1e-8,
                  mu_dtype: Optional[Any] = None, *, nesterov: bool = True,
                  adaptive: bool = False, weight_dimension_numbers=None) -> GradientTransformation:
    r"""Muon's scaling for matrices (``muon`` routes the other leaves to AdamW).

    Every leaf is a matrix: of rank 2, or given ``weight_dimension_numbers`` (a
    ``MuonDimensionNumbers``, a tree of them with the params' structure or a prefix of
    it, or a function of the updates returning one), which say which axes form the
    matrix; each entry of the other axes is orthogonalised on its own.

    $$
    m_t = \beta m_{t-1} + (1 - \beta) g_t, \quad
    \hat m_t = \begin{cases}
      \beta\,\frac{m_t}{1 - \beta^{t+1}} + (1 - \beta)\frac{g_t}{1 - \beta^t} & \text{nesterov} \\
      m_t / (1 - \beta^t) & \text{otherwise}
    \end{cases}, \quad
    u_t = \mathrm{NS}_k(\hat m_t),
    $$

    ``NS_k`` being ``k = ns_steps`` iterations ``X \leftarrow aX + (bXX^\top + c(XX^\top)^2)X``
    from ``\hat m / (\lVert \hat m \rVert_F + \epsilon)``, ``(a, b, c) = ns_coeffs``. It maps
    every singular value into about [0.7, 1.2] and keeps the singular vectors.
    ``adaptive`` scales ``u`` by ``\langle \hat m, u \rangle`` (Bernstein & Newhouse; over
    the whole leaf, as optax). The coefficients, ``beta`` and ``eps`` may be traced.
    optax's ``contrib.scale_by_muon`` computes the same.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_muon()
        >>> u, _ = t.update(jnp.diag(jnp.array([4.0, 0.5])), t.init(jnp.zeros((2, 2))))
        >>> print(jnp.diag(u).round(2))   # singular values 4 and 0.5 both land near 0.7
        [0.71 0.69]

    References:
        Jordan et al., *Muon: An optimizer for hidden layers in neural networks*, 2024
        (kellerjordan.github.io/posts/muon); Liu et al., *Muon is Scalable for LLM
        Training*, 2025 (arXiv:2502.16982).
    """
    fn = "scale_by_muon"
    if isinstance(ns_steps, bool) or not isinstance(ns_steps, int) or ns_steps < 1:
        raise TypeError(f"{fn}: ns_steps must be a positive int (it unrolls the iteration), got "
                        f"ns_steps={ns_steps!r}; pass e.g. 5.")
    if not isinstance(ns_coeffs, jax.Array):
        try:
            if len(ns_coeffs) != 3:
                raise TypeError
        except TypeError:
            raise TypeError(f"{fn}: ns_coeffs must be three numbers (a, b, c), got ns_coeffs={ns_coeffs!r}.") from None
        for name, v in zip("abc", ns_coeffs):
            _check.hyperparameter(fn, f"ns_coeffs[{'abc'.index(name)}]", v)
    _check.decay_rate(fn, "beta", beta, high_open=True)
    _check.non_negative(fn, "eps", eps)
    _check.dtype_arg(fn, "mu_dtype", mu_dtype)
    _check.flag(fn, "nesterov", nesterov)
    _check.flag(fn, "adaptive", adaptive)
    mu_dtype = None if mu_dtype is None else jnp.dtype(mu_dtype)

    def init(params):
        _check.float_params(fn, params)
        if weight_dimension_numbers is None:
            bad = [jax.tree_util.keystr(k) for k, p in jax.tree_util.tree_flatten_with_path(params)[0]
                   if jnp.ndim(p) != 2]
            if bad:
                raise ValueError(f"{fn}: every leaf must be a matrix (rank 2), got {_check._listing(bad)} of other "
                                 "ranks; use optfn.muon, which gives the other leaves AdamW, or pass "
                                 "weight_dimension_numbers.")
        else:
            jax.tree.map(lambda p, d: _axes(fn, jnp.shape(p), d.dims), params,
                         _dims_tree(fn, weight_dimension_numbers, params))
        coeffs = jnp.stack([jnp.asarray(c, jnp.float32) for c in ns_coeffs]) if not isinstance(
            ns_coeffs, jax.Array) else jnp.asarray(ns_coeffs, jnp.float32)
        return MuonState(zero_count(), zeros(params, mu_dtype), coeffs)

    def update(updates, state, params=None):
        del params
        count = _check.preamble(fn, state, MuonState, updates, "mu", {"beta": beta, "eps": eps})

        def leaf(g, m, d):
            ct = compute_dtype(g.dtype)
            g32 = g.astype(ct)
            new_m = ema(m, g32, beta)
            m_hat = first_moment_estimate(new_m, g32, beta, count, nesterov)
            coeffs, e = state.ns_coeffs.astype(ct), as_dtype(eps, ct)
            if g.ndim == 2:  # a matrix whatever its numbers say: NS(x^T) = NS(x)^T
                u = orthogonalize(m_hat, coeffs, ns_steps, e)
            else:
                mats, undo = _as_matrices(m_hat, _axes(fn, g.shape, d.dims))
                u = undo(jax.vmap(lambda x: orthogonalize(x, coeffs, ns_steps, e))(mats))
            if adaptive:
                u = jnp.sum(m_hat.conj() * u) * u
            return u.astype(g.dtype), new_m.astype(m.dtype)

        dims = _dims_tree(fn, weight_dimension_numbers, updates) if weight_dimension_numbers is not None else \
            jax.tree.map(lambda _: _Dims(None), updates)
        updates, mu = map_leaves(leaf, updates, state.mu, dims, n_out=2)
        return updates, MuonState(count, mu, state.ns_coeffs)

    return GradientTransformation(init, update)


def _scale_by_shape(consistent_rms, weight_dimension_numbers=None):
    """Keller Jordan's width factor ``sqrt(max(1, fan_out / fan_in))`` for a ``(fan_in,
    fan_out)`` matrix, or Moonlight's ``sqrt(max(fan_in, fan_out)) * consistent_rms``
    (the fans: products of the reduction and the output axes)."""

    def update(updates, state, params=None):
        del params

        def leaf(u, d):
            _, red, outs = _axes("muon", u.shape, d.dims)
            fan_in, fan_out = math.prod(u.shape[a] for a in red), math.prod(u.shape[a] for a in outs)
            if consistent_rms is None:
                return u * jnp.sqrt(jnp.maximum(1.0, fan_out / fan_in)).astype(u.dtype)
            return (u * jnp.sqrt(float(max(fan_in, fan_out))) * jnp.asarray(consistent_rms)).astype(u.dtype)

        dims = _dims_tree("muon", weight_dimension_numbers, updates) if weight_dimension_numbers is not None else \
            jax.tree.map(lambda _: _Dims(None), updates)
        return jax.tree.map(leaf, updates, dims), state

    return GradientTransformation(lambda params: EmptyState(), update)


def muon(learning_rate, ns_coeffs=DEFAULT_NS_COEFFS, ns_steps: int = 5, beta=0.95, eps=1e-8, weight_decay=0.0,
         weight_decay_mask=None, mu_dtype: Optional[Any] = None, *, nesterov: bool = True, adaptive: bool = False,
         adam_b1=0.9, adam_b2=0.999, adam_eps_root=0.0, adam_weight_decay=0.0, adam_learning_rate=None,
         muon_weight_dimension_numbers=None, consistent_rms=None) -> GradientTransformation:
    r"""Muon on the matrices, AdamW on the other leaves.

    A rank-2 leaf of shape ``(fan_in, fan_out)`` (``x @ W``, flax's and equinox's
    ``Linear`` layout) takes
    ``W \leftarrow W - lr\,(s\,\mathrm{NS}(\hat m) + wd\,W)`` with ``scale_by_muon``'s
    orthogonalised momentum and ``s = \sqrt{\max(1, fan_{out}/fan_{in})}`` (or
    ``\sqrt{\max(fan_{in}, fan_{out})}\cdot`` ``consistent_rms``, Moonlight's choice,
    0.2 matching AdamW's update size). Every other leaf takes
    ``adamw(adam_learning_rate or learning_rate, adam_b1, adam_b2, eps, adam_eps_root,
    weight_decay=adam_weight_decay, nesterov=nesterov)``. With
    ``muon_weight_dimension_numbers`` (a ``MuonDimensionNumbers``, a tree of them and
    ``None`` with the params' structure or a prefix of it, or a function of the params
    giving one) a leaf with numbers takes Muon on the matrices they describe (a conv
    kernel ``(h, w, in, out)``: ``MuonDimensionNumbers((0, 1, 2), 3)``) and a leaf with
    ``None`` takes AdamW. Every numeric argument may be traced. As ``optax.contrib.muon``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> params = {"w": jnp.zeros((2, 2)), "b": jnp.zeros(2)}
        >>> opt = optfn.muon(0.1)
        >>> u, _ = opt.update({"w": jnp.eye(2), "b": jnp.ones(2)}, opt.init(params), params)
        >>> print(jnp.diag(u["w"]).round(2))   # -lr times the orthogonalised (Nesterov) momentum
        [-0.11 -0.11]
        >>> print(u["b"].round(3))   # the vector takes AdamW, with Nesterov's first step
        [-0.147 -0.147]
    """
    fn = "muon"
    _check.learning_rate(fn, learning_rate)
    _check.weight_decay(fn, weight_decay)
    _check.weight_decay(fn, adam_weight_decay, "adam_weight_decay")
    if consistent_rms is not None:
        _check.non_negative(fn, "consistent_rms", consistent_rms)
    spec = muon_weight_dimension_numbers
    matrices = chain(scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov, adaptive=adaptive,
                                   weight_dimension_numbers=spec),
                     _scale_by_shape(consistent_rms, spec), add_decayed_weights(weight_decay, weight_decay_mask),
                     scale_by_learning_rate(learning_rate))
    others = adamw(learning_rate if adam_learning_rate is None else adam_learning_rate, adam_b1, adam_b2, eps,
                   adam_eps_root, mu_dtype, weight_decay=adam_weight_decay, nesterov=nesterov)
    if spec is None:
        labels = lambda params: jax.tree.map(lambda p: "muon" if jnp.ndim(p) == 2 else "adam", params)  # noqa: E731
    else:
        labels = lambda params: jax.tree.map(lambda d: "adam" if d.dims is None else "muon",  # noqa: E731
                                             _dims_tree(fn, spec, params))
    return partition({"muon": matrices, "adam": others}, labels)
