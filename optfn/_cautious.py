"""Cautious updates (Liang et al., 2024): drop the components that would climb the loss.

Any optimizer's update ``u`` may point, in some coordinates, against the current
gradient (momentum carries it past a turn). The cautious form keeps only the
coordinates where ``u`` descends, ``u * g < 0``, and rescales each leaf so that its
average magnitude is kept.
"""

from typing import NamedTuple

import jax.numpy as jnp

from . import _check
from ._base import GradientTransformationExtraArgs
from ._extra_args import with_extra_args_support
from ._numerics import as_dtype, compute_dtype, map_leaves


class CautiousState(NamedTuple):
    """The wrapped optimizer's state."""

    inner_state: object


def cautious(optimizer, eps=1e-3) -> GradientTransformationExtraArgs:
    r"""``optimizer`` with cautious updates (Liang et al., 2024, Algorithm 1 "C-Optim").

    For each leaf, with ``u`` the wrapped optimizer's update (added to the params, as
    every optimizer's update here) and ``g`` the gradient:

    $$ \phi = \mathbb{1}[u \odot g < 0], \qquad
       u' = \frac{u \odot \phi}{\max(\mathrm{mean}(\phi), \epsilon)}. $$

    Wrap a whole optimizer (its learning rate inside): the mask reads the sign of the
    final update. With weight decay inside, the decay is masked too; the paper's
    C-AdamW decays outside the mask: ``chain(cautious(optfn.adam(lr)),
    add_decayed_weights(-lr * wd))``. ``eps`` may be traced. Keyword arguments
    (``value=``) reach the wrapped optimizer.

    Args:
        optimizer: any ``GradientTransformation`` (optfn's or optax's).
        eps: the floor of the kept share, so a leaf with few kept entries is not blown up.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.cautious(optfn.sgd(0.1, momentum=0.9))
        >>> s = opt.init(jnp.zeros(2))
        >>> u, s = opt.update(jnp.array([1.0, 1.0]), s)   # velocity -0.1, -0.1: both descend
        >>> u
        Array([-0.1, -0.1], dtype=float32)
        >>> opt.update(jnp.array([1.0, -0.5]), s)[0]  # entry 1's velocity climbs: dropped, entry 0 doubled
        Array([-0.38, -0.  ], dtype=float32)

    References:
        Liang, Chen, Liu and Liu, *Cautious Optimizers: Improving Training with One Line
        of Code*, 2024 (arXiv:2411.16085).
    """
    fn = "cautious"
    _check.transformation(fn, "optimizer", optimizer)
    optimizer = with_extra_args_support(optimizer)
    _check.non_negative(fn, "eps", eps)

    def init(params):
        return CautiousState(optimizer.init(params))

    def update(updates, state, params=None, **extra):
        _check.state_type(fn, state, CautiousState)
        inner, inner_state = optimizer.update(updates, state.inner_state, params, **extra)
        _check.same_structure(fn, "the wrapped optimizer's updates", inner, "the gradients", updates)

        def leaf(u, g):
            ct = compute_dtype(u.dtype)
            keep = (u.astype(ct) * g.astype(ct) < 0).astype(ct)
            share = jnp.maximum(jnp.mean(keep), as_dtype(eps, ct)) if keep.size else as_dtype(1.0, ct)
            return ((u.astype(ct) * keep) / share).astype(u.dtype),

        (out,) = map_leaves(leaf, inner, updates, n_out=1)
        return out, CautiousState(inner_state)

    return GradientTransformationExtraArgs(init, update)

