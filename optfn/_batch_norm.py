r"""Batch normalisation as pure functions: parameters apart from running statistics.

Training normalises with the mini-batch statistics and returns updated running
averages; test time normalises with the running averages and returns the state as it
came. Nothing is hidden in a module: ``y, state = batch_norm(params, state, x, training=True)``.
"""

import math
from typing import Any, NamedTuple, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from . import _check
from ._moments import ema
from ._numerics import as_dtype, compute_dtype, safe_increment, zero_count

_VARIANCE = ("two_pass", "fast")
_RUNNING_VAR = ("biased", "unbiased")


class BatchNormParams(NamedTuple):
    """The learned parameters: ``scale`` (gamma) and ``bias`` (beta); ``None`` when unused."""

    scale: Optional[jax.Array]
    bias: Optional[jax.Array]


class BatchNormState(NamedTuple):
    """Running statistics (float32 whatever the input dtype) and the training-step count."""

    mean: jax.Array
    var: jax.Array
    count: jax.Array


def _feature_shape(fn: str, num_features) -> tuple:
    if not isinstance(num_features, (int, tuple, list)) or isinstance(num_features, bool):
        raise TypeError(f"{fn}: num_features must be a positive int or a tuple of them (the size of the "
                        f"feature axis), got num_features={num_features!r}; e.g. batch_norm_init(64).")
    shape = (num_features,) if isinstance(num_features, int) else tuple(num_features)
    if not shape or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in shape):
        raise ValueError(f"{fn}: num_features must be a positive int or a tuple of them, got {num_features!r}.")
    return shape


def batch_norm_init(
    num_features: Union[int, Sequence[int]], *, use_scale: bool = True, use_bias: bool = True, param_dtype: Any = jnp.float32
) -> tuple:
    """The parameters and the state of a batch-norm layer.

    Args:
        num_features: the size of the feature axis (a tuple for several feature axes).
        use_scale: learn ``scale`` (gamma), initialised to ones; else ``scale=None``.
        use_bias: learn ``bias`` (beta), initialised to zeros; else ``bias=None``.
        param_dtype: dtype of ``scale`` and ``bias``.

    Returns:
        ``(BatchNormParams(scale, bias), BatchNormState(mean=0, var=1, count=0))``.

    Example:
        >>> import optfn
        >>> params, state = optfn.batch_norm_init(3)
        >>> print(params.scale)  # and bias 0, running mean 0, running variance 1, count 0
        [1. 1. 1.]
    """
    shape = _feature_shape("batch_norm_init", num_features)
    params = BatchNormParams(
        jnp.ones(shape, param_dtype) if use_scale else None,
        jnp.zeros(shape, param_dtype) if use_bias else None,
    )
    return params, BatchNormState(jnp.zeros(shape, jnp.float32), jnp.ones(shape, jnp.float32), zero_count())


def _axes(fn: str, axis, ndim: int) -> tuple:
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if any(not -ndim <= a < ndim for a in axes):
        raise ValueError(f"{fn}: axis={axis!r} is out of range for an input with {ndim} dimensions.")
    axes = tuple(sorted({a % ndim for a in axes}))
    return axes


def _axis_size(axis_name) -> int:
    names = (axis_name,) if isinstance(axis_name, str) else tuple(axis_name)
    try:
        return math.prod(jax.lax.axis_size(n) for n in names)
    except NameError:
        raise ValueError(
            f"batch_norm: axis_name={axis_name!r} is not bound here. Call batch_norm inside "
            f"jax.vmap(..., axis_name={names[0]!r}) or a shard_map over a mesh with that axis, or "
            "pass axis_name=None for the statistics of this batch alone."
        ) from None


def _check_shapes(fn, params, state, x, axes, features):
    where = f"x.shape={tuple(x.shape)}, feature axes {axes}"
    for name, leaf in (("params.scale", params.scale), ("params.bias", params.bias),
                       ("state.mean", state.mean), ("state.var", state.var)):
        if leaf is not None and tuple(jnp.shape(leaf)) != features:
            owner = "batch_norm_init" if name.startswith("params") else "the state of a layer"
            raise ValueError(
                f"{fn}: {name} has shape {tuple(jnp.shape(leaf))} but the input has {features} "
                f"features ({where}). Build the layer with batch_norm_init({features[0] if len(features) == 1 else features}) "
                f"or pass the axis that holds the features; {owner} of another size does not fit."
            )


def _moments(xc, w, reduce, axis_name, variance):
    """Batch mean and biased variance (keepdims) over ``reduce`` and ``axis_name``, and the count."""

    def totals(*values):  # sums over the batch axes and, with axis_name, one psum for all
        sums = [jnp.sum(v if w is None else v * w, axis=reduce, keepdims=True) for v in values]
        return sums if axis_name is None else jax.lax.psum(sums, axis_name)

    n = None
    if w is None:
        count = math.prod(xc.shape[i] for i in reduce) * (1 if axis_name is None else _axis_size(axis_name))
    else:
        if axis_name is not None:
            _axis_size(axis_name)
        (n,) = totals(jnp.ones_like(xc))
        count = jnp.maximum(n, 1)

    if variance == "fast":  # E[x^2] - E[x]^2 in one pass: loses digits when |mean| >> std
        s1, s2 = totals(xc, xc * xc)
        mean = s1 / count
        return mean, jnp.maximum(s2 / count - mean * mean, 0), count, n
    (s1,) = totals(xc)  # two passes: the mean, then the mean squared deviation from it
    mean = s1 / count
    (s2,) = totals(jnp.square(xc - mean))
    return mean, s2 / count, count, n


_BATCH_OF_ONE = (
    "batch_norm: training statistics need more than one value per feature, but x.shape={shape} "
    "with feature axes {axes} gives {n} per feature. The batch variance would be 0 and "
    "the output would be just the bias. Train with batches of 2 or more, pass "
    "axis_name to share statistics across a vmapped or sharded batch, or use "
    "training=False to normalise with the running averages."
)


def batch_norm(
    params: BatchNormParams,
    state: BatchNormState,
    x: jax.Array,
    *,
    training: bool,
    axis: Union[int, Sequence[int]] = -1,
    momentum=0.99,
    eps=1e-5,
    axis_name: Optional[Union[str, Sequence[str]]] = None,
    mask: Optional[jax.Array] = None,
    running_var: str = "biased",
    variance: str = "two_pass",
) -> tuple:
    r"""Batch normalisation (Ioffe & Szegedy), explicit state in, new state out.

    Training, over every axis but the feature ``axis`` (and across ``axis_name``):

    $$
    \mu = \frac{1}{m}\sum_i z_i, \quad \sigma^2 = \frac{1}{m}\sum_i (z_i - \mu)^2, \quad
    \hat z = \frac{z - \mu}{\sqrt{\sigma^2 + \epsilon}}, \quad y = \gamma \hat z + \beta
    $$

    and the running averages (under ``stop_gradient``) become
    ``mean = momentum * mean + (1 - momentum) * mu`` and the same for ``var``. A layer
    before batch norm needs no bias: ``beta`` takes its place. At test time
    (``training=False``) the running averages replace ``mu`` and ``sigma^2`` and the
    state comes back unchanged; one example at a time works.

    Statistics are float32 (at least), whatever the input dtype; ``y`` has ``x``'s
    dtype. The variance algorithm (``variance``):

    * ``"two_pass"`` (default): the mean, then the mean squared deviation from it;
      accurate at any offset (a feature at 1e4 with unit spread keeps its variance).
    * ``"fast"``: ``E[x^2] - E[x]^2``, one read, one collective; loses 17% of the
      variance at an offset of 1e3 and all of it at 1e4 (flax's default). Opt in only
      for inputs known to be near zero mean.

    Args:
        params: ``BatchNormParams`` from ``batch_norm_init``.
        state: ``BatchNormState`` from ``batch_norm_init`` or a previous call.
        x: the input; any float dtype.
        training: a Python bool: batch statistics (True) or running averages (False).
        axis: the feature axis (or axes); the others are reduced.
        momentum: weight of the old running average, in [0, 1]; traceable. PyTorch's
            ``momentum=0.1`` is ``momentum=0.9`` here (torch weighs the new batch).
        eps: added to the variance, ``> 0``; traceable.
        axis_name: the name (or names) of a ``vmap``/``shard_map`` axis to share the
            statistics across: per-example ``vmap`` then equals the whole batch. The
            sums of each pass go through one ``psum`` (two for ``"two_pass"``, one for
            ``"fast"``). Leave ``None`` under an ensemble
            ``vmap`` (one model per trial): each member keeps its own statistics.
        mask: bools broadcastable to ``x``; only ``True`` positions count in the
            statistics (a feature with no ``True`` position is normalised with the running
            averages, which it leaves unchanged); for padding.
        running_var: ``"biased"`` stores the batch variance as normalised (flax,
            haiku); ``"unbiased"`` stores ``var * m / (m - 1)`` (PyTorch).
        variance: ``"two_pass"`` or ``"fast"``, see above.

    Returns:
        ``(y, new_state)``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> params, state = optfn.batch_norm_init(2)
        >>> x = jnp.array([[1.0, 10.0], [3.0, 30.0]])
        >>> y, state = optfn.batch_norm(params, state, x, training=True, momentum=0.9)
        >>> print(y)
        [[-1. -1.]
         [ 1.  1.]]
        >>> print(state.mean)  # 0.9 * 0 + 0.1 * batch mean
        [0.2 2. ]
        >>> print(state.var)  # 0.9 * 1 + 0.1 * batch variance
        [ 1.  10.9]
        >>> y, _ = optfn.batch_norm(params, state, x[0], training=False)  # one example
    """
    fn = "batch_norm"
    if not isinstance(training, bool):
        raise TypeError(f"{fn}: training must be a Python bool (it picks the computation), got training={training!r}.")
    if not isinstance(params, BatchNormParams):
        raise TypeError(f"{fn}: params must be the BatchNormParams from batch_norm_init, got a {type(params).__name__}.")
    _check.state_type(fn, state, BatchNormState)
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise TypeError(f"{fn}: x must be a float array, got dtype {jnp.result_type(x)}; cast it, e.g. x.astype(jnp.float32).")
    _check.hyperparameter(fn, "momentum", momentum, low=0.0, high=1.0,
                          hint="It weighs the old average; PyTorch's momentum=0.1 is momentum=0.9 here.")
    _check.hyperparameter(fn, "eps", eps, low=0.0, low_open=True)
    if variance not in _VARIANCE:
        raise ValueError(f"{fn}: variance must be one of {_VARIANCE}, got variance={variance!r}.")
    if running_var not in _RUNNING_VAR:
        raise ValueError(f"{fn}: running_var must be one of {_RUNNING_VAR}, got running_var={running_var!r}.")
    x = jnp.asarray(x)
    axes = _axes(fn, axis, x.ndim)
    features = tuple(x.shape[a] for a in axes)
    _check_shapes(fn, params, state, x, axes, features)
    reduce = tuple(i for i in range(x.ndim) if i not in axes)
    bshape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))  # broadcasts a feature vector
    ct = compute_dtype(x.dtype)
    xc = x.astype(ct)

    if training:
        w = None
        if mask is not None:
            try:
                w = jnp.broadcast_to(jnp.asarray(mask), x.shape).astype(ct)
            except ValueError:
                raise ValueError(f"{fn}: mask of shape {jnp.shape(mask)} does not broadcast to x.shape={x.shape}.") from None
        elif math.prod(x.shape[i] for i in reduce) * (1 if axis_name is None else _axis_size(axis_name)) < 2:
            n = math.prod(x.shape[i] for i in reduce)
            raise ValueError(_BATCH_OF_ONE.format(shape=tuple(x.shape), axes=axes, n=n))
        mean, var, count, present = _moments(xc, w, reduce, axis_name, variance)
        empty = None
        if present is not None:  # a feature the mask leaves empty has no batch statistics:
            # normalise it with the running averages and leave them as they are
            empty = present == 0
            mean = jnp.where(empty, state.mean.reshape(bshape).astype(ct), mean)
            var = jnp.where(empty, state.var.reshape(bshape).astype(ct), var)
    else:
        mean, var = state.mean.reshape(bshape).astype(ct), state.var.reshape(bshape).astype(ct)

    inv = jax.lax.rsqrt(var + as_dtype(eps, ct))
    if params.scale is not None:
        inv = inv * params.scale.reshape(bshape).astype(ct)
    y = (xc - mean) * inv  # (x - mean) first: x * inv - mean * inv would cancel at large offsets
    if params.bias is not None:
        y = y + params.bias.reshape(bshape).astype(ct)
    y = y.astype(x.dtype)
    if not training:
        return y, state

    mean, var = jax.lax.stop_gradient(mean).astype(jnp.float32), jax.lax.stop_gradient(var).astype(jnp.float32)
    if running_var == "unbiased":
        count32 = jnp.asarray(count, jnp.float32)
        var = var * jnp.where(count32 > 1, count32 / jnp.maximum(count32 - 1, 1), 1.0)
    m = as_dtype(momentum, jnp.float32)

    def average(old, new):
        new = ema(old, new.reshape(features), m)
        return new if empty is None else jnp.where(empty.reshape(features), old, new)

    new_state = BatchNormState(average(state.mean, mean), average(state.var, var), safe_increment(state.count))
    return y, new_state
