"""``optfn sweep``'s bundled task: an MLP with batch norm on scikit-learn's digits."""

import jax
import jax.numpy as jnp
import numpy as np

from ._batch_norm import batch_norm, batch_norm_init


def digits_task(hidden: int, seed: int = 0, test: bool = False) -> dict:
    """The runner's pieces for a 64 -> ``hidden`` -> 10 MLP with batch norm on digits.

    Returns ``init``, ``loss``, ``evaluate`` (``{"loss": cross-entropy, "accuracy": ...}``
    with the running statistics, as at test time), ``data`` and ``eval_data``, split
    75/25 after a shuffle by ``seed``; with ``test=True`` 60/20/20 and ``test_data``,
    data that no decision of the sweep sees.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise SystemExit("optfn sweep needs scikit-learn for its digits data: pip install 'optfn[examples]'.") from None
    d = load_digits()
    order = np.random.default_rng(seed).permutation(len(d.target))
    x, y = (d.data[order] / 16.0).astype(np.float32), d.target[order].astype(np.int32)
    cuts = [int(0.6 * len(y)), int(0.8 * len(y))] if test else [int(0.75 * len(y))]
    parts = [{"x": a, "y": b} for a, b in zip(np.split(x, cuts), np.split(y, cuts))]

    def init(key, hp):
        k1, k2 = jax.random.split(key)
        bn_params, bn_state = batch_norm_init(hidden)
        params = {"w1": jax.nn.initializers.he_normal()(k1, (64, hidden)), "bn": bn_params,  # no bias before BN
                  "w2": jax.nn.initializers.glorot_normal()(k2, (hidden, 10)), "b2": jnp.zeros(10)}
        return params, bn_state

    def forward(params, state, x, training):
        h, state = batch_norm(params["bn"], state, x @ params["w1"], training=training, momentum=0.9)
        return jax.nn.relu(h) @ params["w2"] + params["b2"], state

    def cross_entropy(logits, labels):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1))

    def loss(params, state, batch):
        logits, state = forward(params, state, batch["x"], True)
        return cross_entropy(logits, batch["y"]), state

    def evaluate(params, state, data):  # running averages, as at test time
        logits = forward(params, state, data["x"], False)[0]
        return {"loss": cross_entropy(logits, data["y"]), "accuracy": jnp.mean(jnp.argmax(logits, 1) == data["y"])}

    task = {"init": init, "loss": loss, "evaluate": evaluate, "data": parts[0], "eval_data": parts[1],
            "has_state": True, "metric": "loss"}
    if test:
        task["test_data"] = parts[2]
    return task
