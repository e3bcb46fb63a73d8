"""Small optimisation problems with known minima, and a batch-norm model for sweeps."""

import jax
import jax.numpy as jnp

import optfn


def parabola(p):
    """``sum_i c_i (x_i - 1)^2`` with unequal curvatures; minimum at all ones."""
    c = jnp.array([1.0, 3.0, 10.0], p["x"].dtype)
    return jnp.sum(c * (p["x"] - 1) ** 2)


PARABOLA_INIT = {"x": jnp.array([-1.0, 2.0, 0.5])}
PARABOLA_MIN = {"x": jnp.ones(3)}


def rosenbrock(p):
    """``(1 - x)^2 + 100 (y - x^2)^2``; minimum 0 at (1, 1)."""
    x, y = p["xy"][0], p["xy"][1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


ROSENBROCK_INIT = {"xy": jnp.array([-1.2, 1.0])}
ROSENBROCK_MIN = {"xy": jnp.ones(2)}


# A one-hidden-layer regression with batch norm, for sweeps that carry model state:
# init -> (params, bn_state), loss -> (value, bn_state), evaluate with the running averages.
def bn_init(key, hp):
    bn_params, bn_state = optfn.batch_norm_init(8)
    return {"w": jax.random.normal(key, (4, 8)), "bn": bn_params, "v": jnp.ones(8) / 8}, bn_state


def _bn_forward(p, s, x, training):
    h, s = optfn.batch_norm(p["bn"], s, x @ p["w"], training=training)
    return jax.nn.relu(h) @ p["v"], s


def bn_loss(p, s, batch):
    out, s = _bn_forward(p, s, batch["x"], True)
    return jnp.mean((out - batch["y"]) ** 2), s


def bn_evaluate(p, s, data):
    return jnp.mean((_bn_forward(p, s, data["x"], False)[0] - data["y"]) ** 2)
