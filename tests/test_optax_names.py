"""Every public name of the installed optax, classified for ``import optfn as optax``.

Three classes: provided by optfn (the same name in ``optfn``); not provided but working
with optfn's objects, each tested here; not provided. The README's switch sentence states
the three counts, and ``test_the_readme_states_the_counts`` checks them against these.
"""

import inspect
import os
import re
import types
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import optfn

optax = pytest.importorskip("optax")

NAMES = sorted(n for n in dir(optax) if not n.startswith("_"))
PROVIDED = [n for n in NAMES if hasattr(optfn, n)]

# optax transformations optfn does not have, built with these arguments: each is chained
# with optfn's and runs (test_optax_transformations_chain_with_optfns)
TRANSFORMATIONS = {
    "adamaxw": (0.1,), "adan": (0.1,), "adaptive_grad_clip": (0.1,), "apply_every": (), "centralize": (),
    "fromage": (0.1,), "keep_params_nonnegative": (), "noisy_sgd": (0.1,), "normalize_by_update_norm": (),
    "novograd": (0.1,), "optimistic_adam": (0.1,), "optimistic_adam_v2": (0.1,), "optimistic_gradient_descent": (0.1,),
    "polyak_sgd": (), "rprop": (0.1,), "scale_by_adan": (), "scale_by_distance_over_gradients": (),
    "scale_by_novograd": (), "scale_by_optimistic_gradient": (), "scale_by_param_block_norm": (),
    "scale_by_polyak": (), "scale_by_rprop": (0.1,), "scale_by_sm3": (), "scale_by_yogi": (), "set_to_zero": (),
    "sm3": (0.1,), "yogi": (0.1,), "zero_nans": (), "add_noise": (0.01, 0.55, 0),
}
# functions of arrays (losses, norms) and of steps (schedules): used around optfn's
# optimizers, as in test_losses_and_schedules_work_in_an_optfn_training_step
LOSSES = ["softmax_cross_entropy", "softmax_cross_entropy_with_integer_labels", "safe_softmax_cross_entropy",
          "sigmoid_binary_cross_entropy", "l2_loss", "squared_error", "huber_loss", "log_cosh", "hinge_loss",
          "cosine_distance", "cosine_similarity", "kl_divergence", "smooth_labels", "sigmoid_focal_loss",
          "safe_norm", "safe_root_mean_squares", "losses"]
SCHEDULES = ["warmup_constant_schedule", "warmup_exponential_decay_schedule", "sgdr_schedule",
             "cosine_onecycle_schedule", "linear_onecycle_schedule", "piecewise_interpolate_schedule", "schedules"]
# tree utilities, on optfn's states and params (test_tree_utilities_read_optfn_states)
TREES = ["tree", "tree_utils", "tree_map_params", "incremental_update", "periodic_update", "named_chain"]
WORKS = sorted([*TRANSFORMATIONS, *LOSSES, *SCHEDULES, *TREES])
NOT_PROVIDED = sorted(set(NAMES) - set(PROVIDED) - set(WORKS))

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
GRADS = {"w": jnp.full((2, 3), 0.5), "b": jnp.full(3, -0.2)}


def test_the_classes_cover_every_name_once():
    assert not set(WORKS) & set(PROVIDED), set(WORKS) & set(PROVIDED)
    assert set(WORKS) <= set(NAMES), set(WORKS) - set(NAMES)
    assert len(PROVIDED) + len(WORKS) + len(NOT_PROVIDED) == len(NAMES)


def test_a_provided_name_is_the_same_kind_of_object():
    for name in PROVIDED:
        theirs, ours = getattr(optax, name), getattr(optfn, name)
        if getattr(theirs, "__module__", None) == "typing":  # the type aliases (Params, OptState, ...)
            continue
        assert inspect.isclass(theirs) == inspect.isclass(ours), name
        assert isinstance(theirs, types.ModuleType) == isinstance(ours, types.ModuleType), name
        assert callable(theirs) == callable(ours), name


def test_optax_transformations_chain_with_optfns():
    # inside optfn's chain, two steps (the state's round trip), all in one program; optax's
    # chain around optfn's parts is test_optax_parity's
    # test_optfn_inside_optax_chain_and_optax_inside_optfn_chain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chains = {name: optfn.chain(optfn.clip(1.0), getattr(optax, name)(*args))
                  for name, args in TRANSFORMATIONS.items()}

    def run_all():
        out = {}
        for name, tx in chains.items():
            state = tx.init(PARAMS)
            for _ in range(2):
                u, state = tx.update(GRADS, state, PARAMS, value=jnp.float32(1.0))
            out[name] = u
        return out

    with jax.numpy_dtype_promotion("standard"):
        out = jax.jit(run_all)()
    for name, u in out.items():
        assert jax.tree.structure(u) == jax.tree.structure(PARAMS), name
        assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(u)), name


def test_losses_and_schedules_work_in_an_optfn_training_step():
    logits, labels = jnp.array([[2.0, -1.0, 0.5]]), jnp.array([0])
    onehot = jax.nn.one_hot(labels, 3)
    np.testing.assert_allclose(optax.softmax_cross_entropy_with_integer_labels(logits, labels),
                               -jax.nn.log_softmax(logits)[:, 0], rtol=1e-6)
    losses = (lambda w: optax.softmax_cross_entropy(logits * w, onehot).sum(),
              lambda w: optax.losses.sigmoid_binary_cross_entropy(logits * w, onehot).sum(),
              lambda w: optax.l2_loss(w, 0.5 * jnp.ones(1)).sum())
    args = {"warmup_exponential_decay_schedule": (0.0, 1.0, 2, 10, 0.5),
            "sgdr_schedule": ([dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=10)],),
            "cosine_onecycle_schedule": (10, 1.0), "linear_onecycle_schedule": (10, 1.0),
            "piecewise_interpolate_schedule": ("linear", 1.0, {5: 0.5}), "warmup_constant_schedule": (0.0, 1.0, 2)}
    assert set(args) == set(SCHEDULES[:-1])

    def run_all():  # one program: each loss trained by optfn's Adam on an optax schedule
        out = {}
        for i, loss in enumerate(losses):
            opt, w = optfn.adam(optax.warmup_constant_schedule(0.0, 0.1, 2)), jnp.ones(1)
            state, before = opt.init(w), loss(w)
            for _ in range(3):
                u, state = opt.update(jax.grad(loss)(w), state, w)
                w = optfn.apply_updates(w, u)
            out[f"loss{i}"] = (before, loss(w))
        for name, a in args.items():  # optax's schedules mix Python floats and int32 counts
            opt = optfn.sgd(getattr(optax, name)(*a))
            state = opt.init(PARAMS)
            for _ in range(3):
                u, state = opt.update(GRADS, state)
            out[name] = u["w"]
        return out

    with jax.numpy_dtype_promotion("standard"):
        out = jax.jit(run_all)()
    for i in range(len(losses)):
        assert float(out[f"loss{i}"][1]) < float(out[f"loss{i}"][0]), i
    for name in args:
        assert np.all(np.isfinite(out[name])), name


def test_tree_utilities_read_optfn_states():
    opt = optfn.inject_hyperparams(optfn.adam)(learning_rate=0.1)
    state = opt.init(PARAMS)
    _, state = opt.update(GRADS, state, PARAMS)
    assert float(optax.tree_utils.tree_get(state, "learning_rate")) == np.float32(0.1)
    assert float(optax.tree.get(optax.tree_utils.tree_set(state, learning_rate=0.5), "learning_rate")) == 0.5
    zeros = optax.tree_map_params(opt, lambda p: jnp.zeros_like(p), state)
    assert float(jnp.sum(zeros.inner_state[0].mu["w"])) == 0.0
    np.testing.assert_allclose(optax.incremental_update(PARAMS, GRADS, 0.5)["w"], 0.75)
    np.testing.assert_allclose(optax.periodic_update(PARAMS, GRADS, jnp.int32(2), 2)["w"], 1.0)
    named = optax.named_chain(("clip", optfn.clip(1.0)), ("sgd", optfn.sgd(0.1)))
    u, s = named.update(GRADS, named.init(PARAMS), PARAMS)
    np.testing.assert_allclose(u["w"], -0.05)


def test_the_readme_states_the_counts():
    with open(os.path.join(os.path.dirname(__file__), "..", "README.md")) as f:
        readme = " ".join(f.read().split())  # the sentence may wrap
    m = re.search(r"of the (\d+) public names of optax ([\d.]+), (\d+) are optfn's own, (\d+) more work with "
                  r"optfn's objects \(tested\), and (\d+) are not provided", readme)
    assert m, "the README's switch sentence is missing"
    assert (int(m[1]), m[2], int(m[3]), int(m[4]), int(m[5])) == (
        len(NAMES), optax.__version__, len(PROVIDED), len(WORKS), len(NOT_PROVIDED)), (
        len(NAMES), optax.__version__, len(PROVIDED), len(WORKS), len(NOT_PROVIDED))
