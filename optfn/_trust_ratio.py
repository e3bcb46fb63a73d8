"""Layer-wise trust ratios: LARS and LAMB scale each leaf's step by ``||W|| / ||u||``."""

import jax
import jax.numpy as jnp

from . import _check
from ._adam import scale_by_adam
from ._base import EmptyState, GradientTransformation
from ._chain import chain
from ._numerics import abs_sq, as_dtype, compute_dtype
from ._scale import scale_by_learning_rate
from ._sgd import trace
from ._weight_decay import _mask_leaves, add_decayed_weights, masked_map


def _norm(x) -> jax.Array:
    """The Euclidean norm ``sqrt(sum |x|^2)``, real also for a complex ``x``."""
    return jnp.sqrt(jnp.sum(jnp.real(abs_sq(x))))


def scale_by_trust_ratio(min_norm=0.0, trust_coefficient=1.0, eps=0.0, mask=None) -> GradientTransformation:
    r"""Scale each leaf by its trust ratio (You et al., 2017; 2020):

    $$ u \leftarrow u \cdot \frac{c \, \max(\lVert W \rVert, n_{min})}{\max(\lVert u \rVert, n_{min}) + \epsilon} $$

    with the norms taken over the whole leaf (a layer's weight matrix), and a ratio of 1
    where either norm is 0 (a fresh bias, a zero update). For complex leaves the norms
    are of ``|x|`` and the ratio is real.

    Args:
        min_norm: the least value of either norm, ``>= 0``; traceable.
        trust_coefficient: ``c``, ``> 0``; traceable.
        eps: added to the update's norm, ``>= 0``; traceable.
        mask: which leaves are scaled: ``None`` (all), a pytree of bools (a prefix of the
            params) or a function ``params -> that pytree`` (LARS leaves biases and
            norm scales alone); the others pass unchanged.

    Returns:
        A ``GradientTransformation`` whose ``update`` needs ``params``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> t = optfn.scale_by_trust_ratio()
        >>> w = jnp.array([3.0, 4.0])  # ||W|| = 5, ||u|| = 0.5: u is scaled by 10
        >>> t.update(jnp.array([0.3, 0.4]), t.init(w), w)[0]
        Array([3., 4.], dtype=float32)

    References:
        You et al., *Large Batch Training of Convolutional Networks*, 2017;
        You et al., *Large Batch Optimization for Deep Learning: Training BERT in 76 minutes*, ICLR 2020.
    """
    fn = "scale_by_trust_ratio"
    _check.non_negative(fn, "min_norm", min_norm)
    _check.hyperparameter(fn, "trust_coefficient", trust_coefficient, low=0.0, low_open=True)
    _check.non_negative(fn, "eps", eps)

    def scaled(u, p, on=True):
        ct = compute_dtype(u.dtype)
        rt = jnp.finfo(ct).dtype  # the norms and the ratio are real, for complex leaves too
        u32, p32, floor = u.astype(ct), p.astype(ct), as_dtype(min_norm, rt)
        p_norm = jnp.maximum(_norm(p32), floor)
        u_norm = jnp.maximum(_norm(u32), floor)
        ratio = as_dtype(trust_coefficient, rt) * p_norm / (u_norm + as_dtype(eps, rt))
        ratio = jnp.where((p_norm == 0) | (u_norm == 0), jnp.ones((), rt), ratio)
        if on is not True:
            ratio = jnp.where(on, ratio, jnp.ones((), rt))
        return (u32 * ratio.astype(ct)).astype(u.dtype)

    def init(params):
        _check.float_params(fn, params)
        if mask is not None and not callable(mask):
            _mask_leaves(fn, mask, params)
        return EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError(f"{fn}: update needs the current params (the ratio is ||W|| / ||u||); call "
                             "update(grads, state, params).")
        _check.state_type(fn, state, EmptyState)
        _check.same_structure(fn, "updates", updates, "params", params)
        _check.hyper_shapes(fn, {"min_norm": min_norm, "trust_coefficient": trust_coefficient, "eps": eps}, updates)
        return masked_map(fn, mask, scaled, updates, params), state

    return GradientTransformation(init, update)


def lars(learning_rate, weight_decay=0.0, weight_decay_mask=True, trust_coefficient=0.001, eps=0.0,
         trust_ratio_mask=True, momentum=0.9, nesterov: bool = False) -> GradientTransformation:
    r"""LARS (You et al., 2017): SGD with momentum on steps scaled per layer by the trust ratio,

    $$ v = \mu v + lr \cdot c \frac{\lVert W \rVert}{\lVert g + \lambda W \rVert + \epsilon}(g + \lambda W),
       \qquad W = W - v. $$

    optax's names and defaults.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        weight_decay: ``lambda``, added to the gradient before the ratio, ``>= 0``; traceable.
        weight_decay_mask: which params decay (``True``: all), as in ``add_decayed_weights``.
        trust_coefficient: ``c``; traceable.
        eps: added to the update's norm; traceable.
        trust_ratio_mask: which params get the ratio (``True``: all).
        momentum: the heavy-ball decay, in [0, 1]; traceable.
        nesterov: Nesterov momentum.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.lars(1.0)
        >>> w = jnp.array([3.0, 4.0])
        >>> print(opt.update(jnp.array([0.3, 0.4]), opt.init(w), w)[0])  # -lr * 0.001 * 10 * g
        [-0.003 -0.004]

    References:
        You et al., *Large Batch Training of Convolutional Networks*, 2017.
    """
    _check.learning_rate("lars", learning_rate)
    _check.weight_decay("lars", weight_decay)
    _check.flag("lars", "nesterov", nesterov)
    return chain(
        add_decayed_weights(weight_decay, None if weight_decay_mask is True else weight_decay_mask),
        scale_by_trust_ratio(trust_coefficient=trust_coefficient, eps=eps,
                             mask=None if trust_ratio_mask is True else trust_ratio_mask),
        scale_by_learning_rate(learning_rate),
        trace(momentum, nesterov),
    )


def lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0, mask=None) -> GradientTransformation:
    r"""LAMB (You et al., 2020): AdamW's step scaled per layer by the trust ratio,

    $$ r = \frac{\hat m}{\sqrt{\hat v} + \epsilon} + \lambda W, \qquad
       W = W - lr \frac{\lVert W \rVert}{\lVert r \rVert} r. $$

    optax's names and defaults.

    Args:
        learning_rate: a number, traced array, schedule or tree of rates.
        b1, b2, eps, eps_root: as in ``scale_by_adam``; traceable.
        weight_decay: ``lambda``, ``>= 0``; traceable.
        mask: which params decay, as in ``add_decayed_weights``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> opt = optfn.lamb(0.1)
        >>> w = jnp.array([3.0, 4.0])  # Adam's first step is sign(g); ||W|| / ||r|| = 5 / sqrt(2)
        >>> print(opt.update(jnp.array([0.3, 0.4]), opt.init(w), w)[0])
        [-0.3536 -0.3536]

    References:
        You et al., *Large Batch Optimization for Deep Learning: Training BERT in 76
        minutes*, ICLR 2020.
    """
    _check.learning_rate("lamb", learning_rate)
    _check.weight_decay("lamb", weight_decay)
    return chain(scale_by_adam(b1, b2, eps, eps_root), add_decayed_weights(weight_decay, mask),
                 scale_by_trust_ratio(), scale_by_learning_rate(learning_rate))
