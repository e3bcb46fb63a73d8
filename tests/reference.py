"""Float64 NumPy versions of every optimizer (and of the longer schedules), written from the papers and lecture notes.

Each function returns ``step(g, p) -> u``, a closure holding its own state, where ``u`` is
the amount added to the parameters (``p_new = p + u``). They share no code with optfn.
"""

import math

import numpy as np


def sgd(lr, momentum=None, nesterov=False):
    """Notes: ``W = W - lr dW``; momentum ``v = a v - lr dW; W = W + v``;
    Nesterov (Bengio et al. 2013): ``v = a v - lr dW; W = W + a v - lr dW``."""
    v = None

    def step(g, p):
        nonlocal v
        if momentum is None:
            return -lr * g
        v = np.zeros_like(g) if v is None else v
        v = momentum * v - lr * g
        return momentum * v - lr * g if nesterov else v

    return step


def ema_momentum(lr, b, debias):
    """Notes: ``V = b V + (1 - b) dW; W = W - lr V`` (optionally ``V / (1 - b**t)``)."""
    state = {"V": None, "t": 0}

    def step(g, p):
        V = np.zeros_like(g) if state["V"] is None else state["V"]
        state["t"] += 1
        V = b * V + (1 - b) * g
        state["V"] = V
        return -lr * (V / (1 - b ** state["t"]) if debias else V)

    return step


def adagrad(lr, initial_accumulator_value=0.1, eps=1e-7):
    """Duchi et al. / notes: ``h = h + dW * dW; W = W - lr dW / sqrt(h)`` (eps inside the root)."""
    h = None

    def step(g, p):
        nonlocal h
        h = np.full_like(g, initial_accumulator_value) if h is None else h
        h = h + g * g
        return -lr * g / np.sqrt(h + eps)

    return step


def rmsprop(lr, decay=0.9, eps=1e-8, eps_in_sqrt=True, centered=False, momentum=None, nesterov=False):
    """Hinton's slide: ``MS = decay MS + (1 - decay) g^2; W = W - lr g / sqrt(MS)``;
    Graves (2013) centered form divides by ``sqrt(MS - MG^2)``; momentum as in PyTorch,
    ``buf = momentum buf + g / denom; W = W - lr buf``."""
    st = {"ms": None, "mg": None, "buf": None}

    def step(g, p):
        ms = np.zeros_like(g) if st["ms"] is None else st["ms"]
        mg = np.zeros_like(g) if st["mg"] is None else st["mg"]
        ms = decay * ms + (1 - decay) * g * g
        mg = decay * mg + (1 - decay) * g
        st["ms"], st["mg"] = ms, mg
        var = ms - mg * mg if centered else ms
        denom = np.sqrt(var + eps) if eps_in_sqrt else np.sqrt(var) + eps
        scaled = g / denom
        if momentum is None:
            return -lr * scaled
        buf = np.zeros_like(g) if st["buf"] is None else st["buf"]
        buf = momentum * buf + scaled
        st["buf"] = buf
        return -lr * (scaled + momentum * buf if nesterov else buf)

    return step


def adam(lr, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, weight_decay=0.0, nesterov=False):
    """Kingma & Ba Algorithm 1 (and the notes): bias-corrected moments;
    ``weight_decay`` is AdamW's decoupled ``- lr * wd * W`` (Loshchilov & Hutter);
    ``nesterov`` is NAdam (Dozat 2016) without the extra b2 factor."""
    st = {"m": None, "v": None, "t": 0}

    def step(g, p):
        m = np.zeros_like(g) if st["m"] is None else st["m"]
        v = np.zeros_like(g) if st["v"] is None else st["v"]
        st["t"] += 1
        t = st["t"]
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        else:
            m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        return -lr * (m_hat / (np.sqrt(v_hat + eps_root) + eps) + weight_decay * p)

    return step


def adadelta(lr=1.0, rho=0.9, eps=1e-6):
    """Zeiler (2012) Algorithm 1: ``E[g2] = rho E[g2] + (1-rho) g^2;
    dx = -RMS[dx]_{t-1} / RMS[g]_t * g; E[dx2] = rho E[dx2] + (1-rho) dx^2``,
    ``RMS[y] = sqrt(E[y^2] + eps)``."""
    st = {"eg": None, "ex": None}

    def step(g, p):
        eg = np.zeros_like(g) if st["eg"] is None else st["eg"]
        ex = np.zeros_like(g) if st["ex"] is None else st["ex"]
        eg = rho * eg + (1 - rho) * g * g
        dx = -np.sqrt(ex + eps) / np.sqrt(eg + eps) * g
        ex = rho * ex + (1 - rho) * dx * dx
        st["eg"], st["ex"] = eg, ex
        return lr * dx

    return step


def warmup_cosine_decay(t, init_value, peak_value, warmup_steps, decay_steps, end_value=0.0, exponent=1.0):
    """Linear warm-up to the peak, then a cosine to ``end_value`` (optax's convention)."""
    if t < warmup_steps:
        return init_value + (peak_value - init_value) * t / warmup_steps
    frac = min(t - warmup_steps, decay_steps - warmup_steps) / (decay_steps - warmup_steps)
    return end_value + (peak_value - end_value) * (0.5 * (1 + math.cos(math.pi * frac))) ** exponent


def batch_norm_train(x, scale, bias, mean, var, momentum, eps, unbiased=False, axis=-1):
    """Ioffe & Szegedy's training step over every axis but ``axis``, in float64.

    Returns ``(y, new_mean, new_var)``; the running averages are
    ``momentum * old + (1 - momentum) * batch`` with the batch variance biased (divided
    by m) or, for PyTorch's convention, unbiased (divided by m - 1).
    """
    x = np.asarray(x, np.float64)
    axis = axis % x.ndim
    reduce = tuple(i for i in range(x.ndim) if i != axis)
    shape = [x.shape[i] if i == axis else 1 for i in range(x.ndim)]
    m = x.size // x.shape[axis]
    mu = x.mean(axis=reduce)
    sigma2 = ((x - mu.reshape(shape)) ** 2).mean(axis=reduce)
    y = (x - mu.reshape(shape)) / np.sqrt(sigma2.reshape(shape) + eps) * np.reshape(scale, shape) + np.reshape(bias, shape)
    stored = sigma2 * m / (m - 1) if unbiased else sigma2
    return y, momentum * np.asarray(mean, np.float64) + (1 - momentum) * mu, momentum * np.asarray(var, np.float64) + (1 - momentum) * stored


def batch_norm_eval(x, scale, bias, mean, var, eps, axis=-1):
    """Test-time batch norm with the running averages, in float64."""
    x = np.asarray(x, np.float64)
    shape = [x.shape[i] if i == axis % x.ndim else 1 for i in range(x.ndim)]
    return (x - np.reshape(mean, shape)) / np.sqrt(np.reshape(var, shape) + eps) * np.reshape(scale, shape) + np.reshape(bias, shape)
