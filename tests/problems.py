"""Small optimisation problems with known minima, and a batch-norm model for sweeps."""

import json

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


# A small tanh regression for sweeps (Adam over "lr" and "b1"): init -> params, loss -> scalar.
def tanh_data(n: int, noise: float = 0.0) -> dict:
    x = jax.random.normal(jax.random.PRNGKey(0), (n, 4))
    y = x @ jnp.array([1.0, -2.0, 0.5, 3.0]) + noise * jax.random.normal(jax.random.PRNGKey(1), (n,))
    return {"x": x, "y": y}


def tanh_init(key, hp):
    return {"w1": 0.5 * jax.random.normal(key, (4, 8)), "w2": jnp.zeros(8)}


def tanh_loss(p, batch):
    return jnp.mean((jnp.tanh(batch["x"] @ p["w1"]) @ p["w2"] - batch["y"]) ** 2)


def tanh_runner(data: dict, **kw):
    """A ``sweep.Runner`` on the tanh regression: 40 steps in chunks of 10, batch 16."""
    from optfn import sweep

    args = dict(init=tanh_init, loss=tanh_loss, optimizer=lambda h: optfn.adam(h["lr"], b1=h["b1"]), data=data,
                steps=40, chunk_steps=10, batch_size=16, evaluate=tanh_loss, eval_data=data)
    return sweep.Runner(**{**args, **kw})



def drive(strategy, metrics_at, configs=9, steps=90, chunk=10, reasons=None, running=None, pool=None, space=None):
    """Run a strategy against a fake ledger; ``metrics_at(config, step) -> (metric, status)``.
    Returns the steps each configuration had trained when it stopped (and fills ``reasons``
    with each stop's reason, ``running`` with how many trained in each chunk). The state
    goes through JSON before every ask, as a checkpoint would take it. With ``pool`` (the
    sampled hyperparameters), ``metrics_at`` gets each configuration's hyperparameters
    instead of its index, and ``pool`` grows by the strategy's proposals."""
    from optfn import sweep

    reasons = {} if reasons is None else reasons
    running = [] if running is None else running
    state = strategy.init(configs, steps, chunk, "min")
    stopped, alive, trained, known = {}, [], {}, configs
    if pool is not None:
        strategy.prepare(space, pool)
    while True:
        plan, state = strategy.ask(strategy.state_from_json(json.loads(json.dumps(state.to_json()))))
        for c, reason in plan.stop:
            stopped[c], reasons[c] = trained[c], reason
        starts = []
        for s in plan.start:  # a proposal is numbered next, as the runner's ledger numbers it
            if isinstance(s, dict):
                pool.append(s)
                s, known = known, known + 1
            starts.append(s)
        alive = [c for c in alive if c not in stopped] + starts
        trained.update({c: 0 for c in starts})
        if plan.done:
            return stopped
        running.append(len(alive))
        for c in alive:
            trained[c] += chunk
        state = strategy.tell(state, [sweep.Report(c, trained[c], *metrics_at(c if pool is None else pool[c],
                                                                                 trained[c])) for c in alive])
