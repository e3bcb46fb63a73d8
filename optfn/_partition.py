"""Different transformations for different groups of parameters."""

from typing import Any, Mapping, NamedTuple

import jax

from . import _check
from ._base import GradientTransformationExtraArgs
from ._masking import masked


class PartitionState(NamedTuple):
    """``{label: MaskedState}``, one per transformation."""

    inner_states: Mapping[Any, Any]


def partition(transforms: Mapping[Any, Any], param_labels, *,
              mask_compatible_extra_args: bool = False) -> GradientTransformationExtraArgs:
    r"""Apply ``transforms[label]`` to the leaves labelled ``label``: ``u'_i = T_{\ell(i)}(u)_i``.

    ``param_labels`` is a tree of labels with the params' structure (or a prefix of it),
    or a function of the params returning one. Each group's transformation sees only
    its leaves (``masked``), so its state covers only them. Every label must name a
    transformation; a label without leaves is allowed. As ``optax.partition`` (and its
    older name ``optax.multi_transform``, also accepted here).

    Args:
        transforms: ``{label: transformation}``.
        param_labels: the labels, or a function params -> labels.
        mask_compatible_extra_args: as in ``masked``.

    Example:
        >>> import jax.numpy as jnp, optfn
        >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
        >>> tx = optfn.partition({"fast": optfn.sgd(1.0), "slow": optfn.sgd(0.1)}, {"w": "fast", "b": "slow"})
        >>> u, _ = tx.update({"w": jnp.ones(2), "b": jnp.ones(1)}, tx.init(params), params)
        >>> u["w"], u["b"]
        (Array([-1., -1.], dtype=float32), Array([-0.1], dtype=float32))
    """
    fn = "partition"
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(f"{fn}: transforms must be a non-empty mapping from labels to transformations, got "
                        f"{transforms!r}; pass e.g. {{'w': optfn.adam(1e-3), 'b': optfn.sgd(1e-2)}}.")
    for label, t in transforms.items():
        _check.transformation(fn, f"transforms[{label!r}]", t)
    _check.flag(fn, "mask_compatible_extra_args", mask_compatible_extra_args)

    def groups(tree):
        labels = param_labels(tree) if callable(param_labels) else param_labels
        unknown = set(jax.tree.leaves(labels)) - set(transforms)
        if unknown:
            raise ValueError(f"{fn}: the labels {sorted(map(repr, unknown))} have no transformation; transforms "
                             f"has {sorted(map(repr, transforms))}. Add one per label.")
        return {label: masked(t, jax.tree.map(lambda x, label=label: x == label, labels),
                              mask_compatible_extra_args=mask_compatible_extra_args)
                for label, t in transforms.items()}

    def init(params):
        return PartitionState({label: t.init(params) for label, t in groups(params).items()})

    def update(updates, state, params=None, **extra_args):
        _check.state_type(fn, state, PartitionState)
        new_states = {}
        for label, t in groups(updates).items():
            updates, new_states[label] = t.update(updates, state.inner_states[label], params, **extra_args)
        return updates, PartitionState(new_states)

    return GradientTransformationExtraArgs(init, update)
