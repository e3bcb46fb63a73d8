"""Small optimisation problems with known minima."""

import jax.numpy as jnp


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
