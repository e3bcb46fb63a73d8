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


def _moments(b1, b2):
    """Adam's moment pair as a closure: returns (m, v, t) after each gradient."""
    st = {"m": None, "v": None, "t": 0}

    def push(g):
        st["m"] = (1 - b1) * g if st["m"] is None else b1 * st["m"] + (1 - b1) * g
        st["v"] = (1 - b2) * g * g if st["v"] is None else b2 * st["v"] + (1 - b2) * g * g
        st["t"] += 1
        return st["m"], st["v"], st["t"]

    return push


def lion(lr, b1=0.9, b2=0.99, weight_decay=0.0, mode="hard", smooth_beta=1.0):
    """Chen et al. 2023, Algorithm 2: ``c = b1 m + (1 - b1) g; W -= lr (sign(c) + wd W);
    m = b2 m + (1 - b2) g``. optax's variants replace ``sign(c)`` by ``tanh(smooth_beta c)``
    (``mode="smooth"``) or by ``c`` where ``|c| < 1`` (``mode="refined"``)."""
    st = {"m": None}
    signs = {"hard": np.sign, "smooth": lambda c: np.tanh(smooth_beta * c),
             "refined": lambda c: np.where(np.abs(c) < 1, c, np.sign(c))}

    def step(g, p):
        m = np.zeros_like(g) if st["m"] is None else st["m"]
        u = -lr * (signs[mode](b1 * m + (1 - b1) * g) + weight_decay * p)
        st["m"] = b2 * m + (1 - b2) * g
        return u

    return step


def sign_sgd(lr):
    """Bernstein et al. 2018: ``W -= lr sign(g)``."""
    return lambda g, p: -lr * np.sign(g)


def signum(lr, beta=0.9):
    """Bernstein et al. 2018, Signum: ``m = beta m + (1 - beta) g; W -= lr sign(m)``."""
    st = {"m": None}

    def step(g, p):
        st["m"] = (1 - beta) * g if st["m"] is None else beta * st["m"] + (1 - beta) * g
        return -lr * np.sign(st["m"])

    return step


def adabelief(lr, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16):
    """Zhuang et al. 2020, Algorithm 2: ``s = b2 s + (1 - b2)(g - m)^2 + eps_root``;
    ``W -= lr m_hat / (sqrt(s_hat) + eps)``."""
    st = {"m": None, "s": None, "t": 0}

    def step(g, p):
        m = np.zeros_like(g) if st["m"] is None else st["m"]
        s = np.zeros_like(g) if st["s"] is None else st["s"]
        st["t"] += 1
        t = st["t"]
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        st["m"], st["s"] = m, s
        return -lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)

    return step


def radam(lr, b1=0.9, b2=0.999, eps=1e-8, threshold=5.0):
    """Liu et al. 2020, Algorithm 2: the rectified step once ``rho_t >= threshold``, momentum
    SGD with the bias-corrected ``m`` before."""
    push = _moments(b1, b2)
    rho_inf = 2 / (1 - b2) - 1

    def step(g, p):
        m, v, t = push(g)
        m_hat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho < threshold:
            return -lr * m_hat
        r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
        return -lr * r * m_hat / (np.sqrt(v / (1 - b2**t)) + eps)

    return step


def amsgrad(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Reddi et al. 2018 with bias-corrected moments: ``v_max = max(v_max, v_hat)``;
    ``W -= lr m_hat / (sqrt(v_max) + eps)``."""
    push = _moments(b1, b2)
    st = {"v_max": None}

    def step(g, p):
        m, v, t = push(g)
        v_hat = v / (1 - b2**t)
        st["v_max"] = v_hat if st["v_max"] is None else np.maximum(st["v_max"], v_hat)
        return -lr * (m / (1 - b1**t)) / (np.sqrt(st["v_max"]) + eps)

    return step


def adamax(lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba section 7.1: ``u = max(b2 u, |g| + eps)``; ``W -= lr m_hat / u``."""
    st = {"m": None, "u": None, "t": 0}

    def step(g, p):
        m = np.zeros_like(g) if st["m"] is None else st["m"]
        u = np.zeros_like(g) if st["u"] is None else st["u"]
        st["t"] += 1
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        st["m"], st["u"] = m, u
        return -lr * (m / (1 - b1 ** st["t"])) / u

    return step


def lamb(lr, b1=0.9, b2=0.999, eps=1e-6, weight_decay=0.0):
    """You et al. 2020, Algorithm 2 (one layer): ``r = m_hat / (sqrt(v_hat) + eps) + wd W``;
    ``W -= lr ||W|| / ||r|| r`` (ratio 1 where a norm is 0)."""
    push = _moments(b1, b2)

    def step(g, p):
        m, v, t = push(g)
        r = (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps) + weight_decay * p
        wn, rn = np.linalg.norm(p), np.linalg.norm(r)
        ratio = 1.0 if wn == 0 or rn == 0 else wn / rn
        return -lr * ratio * r

    return step


def lars(lr, momentum=0.9, trust_coefficient=0.001, weight_decay=0.0):
    """You et al. 2017, Algorithm 1 (one layer): ``local_lr = c ||W|| / ||g + wd W||``;
    ``v = m v + lr local_lr (g + wd W)``; ``W -= v``."""
    st = {"v": None}

    def step(g, p):
        d = g + weight_decay * p
        wn, dn = np.linalg.norm(p), np.linalg.norm(d)
        local = 1.0 if wn == 0 or dn == 0 else trust_coefficient * wn / dn
        st["v"] = lr * local * d if st["v"] is None else momentum * st["v"] + lr * local * d
        return -st["v"]

    return step


def adafactor(lr, decay_rate=0.8, eps=1e-30, clipping_threshold=1.0, min_dim=128, shape=None):
    """Shazeer & Stern 2018, Algorithms 4 and 5 with ``beta2_t = 1 - t^-decay_rate``,
    update clipping at ``clipping_threshold`` (rms), relative step off, no momentum;
    ``shape`` reshapes the flat parameters into the matrix that is factored."""
    st = {"R": None, "C": None, "V": None, "t": 0}

    def step(g, p):
        st["t"] += 1
        beta = 1 - st["t"] ** -decay_rate
        x = g.reshape(shape) if shape is not None else g
        sq = x * x + eps
        if x.ndim == 2 and sorted(x.shape)[-2] >= min_dim:
            rows, cols = (1, 0) if x.shape[0] >= x.shape[1] else (0, 1)  # reduce over the longer axis
            r_new, c_new = sq.mean(axis=rows), sq.mean(axis=cols)
            st["R"] = r_new if st["R"] is None else beta * st["R"] + (1 - beta) * r_new
            st["C"] = c_new if st["C"] is None else beta * st["C"] + (1 - beta) * c_new
            if rows == 1:  # R indexed by rows (axis 0), C by columns
                v_hat = np.outer(st["R"], st["C"]) / st["R"].mean()
            else:
                v_hat = np.outer(st["C"], st["R"]) / st["R"].mean()
        else:
            st["V"] = sq if st["V"] is None else beta * st["V"] + (1 - beta) * sq
            v_hat = st["V"]
        u = x / np.sqrt(v_hat)
        u = u / max(1.0, np.sqrt(np.mean(u * u)) / clipping_threshold)
        return (-lr * u).reshape(g.shape)

    return step


def adopt(lr, b1=0.9, b2=0.9999, eps=1e-6, clip=True):
    """Taniguchi et al. 2024, Algorithm 2 with clipping: ``v_0 = g_0^2`` and no step at
    t = 0; then ``m = b1 m + (1 - b1) clip(g / max(sqrt(v_prev), eps), +-t**0.25)``,
    ``v = b2 v + (1 - b2) g^2``, ``W -= lr m``."""
    st = {"m": None, "v": None, "t": 0}

    def step(g, p):
        t = st["t"]
        st["t"] += 1
        if t == 0:
            st["m"], st["v"] = np.zeros_like(g), g * g
            return np.zeros_like(g)
        normed = g / np.maximum(np.sqrt(st["v"]), eps)
        if clip:
            normed = np.clip(normed, -t ** 0.25, t ** 0.25)
        st["m"] = b1 * st["m"] + (1 - b1) * normed
        st["v"] = b2 * st["v"] + (1 - b2) * g * g
        return -lr * st["m"]

    return step


def ademamix(lr, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, weight_decay=0.0):
    """Pagliardini et al. 2024, Algorithm 1 (constant ``alpha`` and ``b3``): Adam's
    bias-corrected ``m1`` and ``v`` plus ``alpha`` times a slow EMA ``m2`` (not corrected);
    ``W -= lr ((m1_hat + alpha m2) / (sqrt(v_hat) + eps) + wd W)``."""
    push = _moments(b1, b2)
    st = {"m2": None}

    def step(g, p):
        m, v, t = push(g)
        st["m2"] = (1 - b3) * g if st["m2"] is None else b3 * st["m2"] + (1 - b3) * g
        u = (m / (1 - b1 ** t) + alpha * st["m2"]) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        return -lr * (u + weight_decay * p)

    return step


def cautious(inner, eps=1e-3):
    """Liang et al. 2024, Algorithm 1: keep the coordinates where the inner update
    descends (``u g < 0``) and rescale by ``1 / max(mean(mask), eps)``, per leaf."""
    def step(g, p):
        u = inner(g, p)
        keep = (u * g < 0).astype(np.float64)
        return u * keep / max(keep.mean(), eps)

    return step


def schedule_free(base, lr, b1=0.9, weight_lr_power=2.0):
    """Defazio et al. 2024, Algorithm 1 with the averaging weights ``c = w_t / sum w``,
    ``w_t = max_{i<=t} lr^p``: ``z += base(g at y)``, ``x = (1 - c) x + c z``, and the
    params handed back are ``y = (1 - b1) z + b1 x``. ``base(g, y)`` is the base step.
    Keeps ``x`` and ``z`` itself; ``step.x`` is the average to evaluate."""
    st = {"z": None, "x": None, "max_lr": 0.0, "sum": 0.0}

    def step(g, y):
        if st["z"] is None:
            st["z"], st["x"] = y.copy(), y.copy()
        st["z"] = st["z"] + base(g, y)
        st["max_lr"] = max(st["max_lr"], lr)
        w = st["max_lr"] ** weight_lr_power
        st["sum"] += w
        c = w / st["sum"]
        st["x"] = (1 - c) * st["x"] + c * st["z"]
        step.x = st["x"]
        return (1 - b1) * st["z"] + b1 * st["x"] - y

    return step


def schedule_free_adamw(lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """Schedule-Free AdamW (Defazio et al. 2024, Algorithm 2 without warm-up): the base step
    is ``-lr (g / (sqrt(v / (1 - b2^t)) + eps) + wd y)``, Adam without momentum."""
    st = {"v": None, "t": 0}

    def base(g, y):
        st["t"] += 1
        st["v"] = (1 - b2) * g * g if st["v"] is None else b2 * st["v"] + (1 - b2) * g * g
        return -lr * (g / (np.sqrt(st["v"] / (1 - b2 ** st["t"])) + eps) + weight_decay * y)

    return schedule_free(base, lr, b1)


def schedule_free_sgd(lr, b1=0.9, weight_decay=0.0):
    """Schedule-Free SGD: the base step is ``-lr (g + wd y)``."""
    return schedule_free(lambda g, y: -lr * (g + weight_decay * y), lr, b1)


def prodigy(lr=1.0, b1=0.9, b2=0.999, beta3=None, eps=1e-8, d0=1e-6, coef=1.0, weight_decay=0.0):
    """Mishchenko & Defazio 2023, Algorithm 4 (Adam form), one leaf: with
    ``rho = lr d sqrt(1 - b2^t) / (1 - b1^t)``, ``m = b1 m + (1 - b1) d g``,
    ``v = b2 v + (1 - b2) d^2 g^2``, ``r = b3 r + (d / d0) rho <g, x0 - x>``,
    ``s = b3 s + (d / d0) rho g``, ``d = max(d, coef r / |s|_1)`` (after the step's use),
    ``u = -rho (m / (sqrt(v) + d eps) + wd x)``."""
    b3 = math.sqrt(b2) if beta3 is None else beta3
    st = {"m": None, "v": None, "s": None, "x0": None, "r": 0.0, "d": d0, "t": 0}

    def step(g, p):
        if st["m"] is None:
            st["m"], st["v"], st["s"], st["x0"] = np.zeros_like(g), np.zeros_like(g), np.zeros_like(g), p.copy()
        st["t"] += 1
        t, d = st["t"], st["d"]
        rho = lr * d * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        st["m"] = b1 * st["m"] + (1 - b1) * d * g
        st["v"] = b2 * st["v"] + (1 - b2) * (d * g) ** 2
        st["r"] = b3 * st["r"] + (d / d0) * rho * float(np.dot(g, st["x0"] - p))
        st["s"] = b3 * st["s"] + (d / d0) * rho * g
        st["d"] = max(d, coef * st["r"] / np.abs(st["s"]).sum())
        return -rho * (st["m"] / (np.sqrt(st["v"]) + d * eps) + weight_decay * p)

    return step


def newton_schulz(x, coeffs=(3.4445, -4.775, 2.0315), steps=5, eps=1e-8):
    """Jordan's quintic iteration ``X = aX + (bA + cA^2)X``, ``A = X X^T``, on the wide
    orientation, from ``X / (|X|_F + eps)``."""
    tall = x.shape[0] > x.shape[1]
    y = x.T if tall else x
    y = y / (np.linalg.norm(y) + eps)
    a, b, c = coeffs
    for _ in range(steps):
        gram = y @ y.T
        y = a * y + (b * gram + c * gram @ gram) @ y
    return y.T if tall else y


def muon(lr, beta=0.95, eps=1e-8, weight_decay=0.0, nesterov=True):
    """Muon for one ``(fan_in, fan_out)`` matrix: Nesterov momentum with bias correction,
    ``NS`` of it, times ``sqrt(max(1, fan_out / fan_in))``; ``W -= lr (. + wd W)`` (``lr`` a
    number or a function of the steps before this one)."""
    st = {"m": None, "t": 0}

    def step(g, p):
        st["t"] += 1
        t = st["t"]
        st["m"] = (1 - beta) * g if st["m"] is None else beta * st["m"] + (1 - beta) * g
        if nesterov:
            m_hat = beta * st["m"] / (1 - beta ** (t + 1)) + (1 - beta) * g / (1 - beta ** t)
        else:
            m_hat = st["m"] / (1 - beta ** t)
        scale = math.sqrt(max(1.0, g.shape[1] / g.shape[0]))
        rate = lr(t - 1) if callable(lr) else lr
        return -rate * (scale * newton_schulz(m_hat, eps=eps) + weight_decay * p)

    return step


def soap(lr=3e-3, b1=0.95, b2=0.95, eps=1e-8, weight_decay=0.0, frequency=10):
    """Vyas et al. 2024, Algorithm 3 as in the authors' code, for one matrix ``G`` (or a
    vector: plain Adam): the first call sets ``L = (1 - b2) G G^T``, ``R = (1 - b2) G^T G``
    and their eigenvectors (by decreasing eigenvalue) and takes no step; then Adam with
    ``m`` in the params' coordinates and ``v`` of the rotated gradient ``Q_L^T G Q_R``,
    the step rotated back; after it ``L``, ``R`` average in ``G G^T``, ``G^T G`` and the
    eigenvectors are recomputed every ``frequency`` steps. Weight decay ``- lr wd W``."""
    st = {"t": -1}

    def eig(a):
        w, v = np.linalg.eigh(a)
        return v[:, np.argsort(-w)]

    def step(g, p):
        st["t"] += 1
        t = st["t"]
        mat = g.ndim == 2
        if t == 0:
            st["m"], st["v"] = np.zeros_like(g), np.zeros_like(g)
            if mat:
                st["L"], st["R"] = (1 - b2) * g @ g.T, (1 - b2) * g.T @ g
                st["QL"], st["QR"] = eig(st["L"]), eig(st["R"])
            return -lr * weight_decay * p
        rot = (lambda x: st["QL"].T @ x @ st["QR"]) if mat else (lambda x: x)
        back = (lambda x: st["QL"] @ x @ st["QR"].T) if mat else (lambda x: x)
        st["m"] = b1 * st["m"] + (1 - b1) * g
        st["v"] = b2 * st["v"] + (1 - b2) * rot(g) ** 2
        size = math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        u = -lr * (size * back(rot(st["m"]) / (np.sqrt(st["v"]) + eps)) + weight_decay * p)
        if mat:
            st["L"] = b2 * st["L"] + (1 - b2) * g @ g.T
            st["R"] = b2 * st["R"] + (1 - b2) * g.T @ g
            if t % frequency == 0:
                st["QL"], st["QR"] = eig(st["L"]), eig(st["R"])
        return u

    return step
