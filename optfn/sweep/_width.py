"""How many trials one program holds: the block width of a run."""

import os

import jax
import jax.numpy as jnp

from . import _mesh


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def auto(live: int, total: int, programs: int, shards: int) -> int:
    """The last phase's trials of a program in one block, at least 8 (or all) per
    program, a multiple of the device count."""
    return round_up(max(-(-live // programs), min(-(-total // programs), 8)), shards)


def device_bytes() -> float:
    """Memory of one device: its reported limit, or the host's RAM split over CPU devices."""
    device = jax.devices()[0]
    try:
        return float(device.memory_stats()["bytes_limit"])
    except Exception:  # CPU devices report no limit
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / max(1, jax.local_device_count())


def cap(runner, width: int, space, layout, mesh) -> int:
    """``width``, or fewer rows where a block of ``layout`` (the largest) would not fit in
    half of each device's memory: a rough guess first, XLA's memory analysis near the limit."""
    shards = _mesh.shards(mesh)
    numeric = {k: jax.ShapeDtypeStruct((1,), space[k].dtype) for k in space.traced_names}
    keys = jax.ShapeDtypeStruct((1, *jax.random.PRNGKey(0).shape), jnp.uint32)
    extent = jax.ShapeDtypeStruct((1, 1 + len(layout.axes)), jnp.int32)
    shared = jax.ShapeDtypeStruct(keys.shape[1:], jnp.uint32)
    data = runner.feed.spec()
    carry = runner.programs.eval_shape_init(layout, keys, numeric, extent, shared, data)
    guess = 4 * sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(carry))  # carry in, out, grads, temps
    guess += runner.feed.row_bytes(layout.static)
    budget = device_bytes() * shards / 2
    if guess * width > budget / 16:  # within reach of the limit: ask XLA for the real figure
        dtypes = {k: space[k].dtype for k in space.traced_names}
        one, two = (runner.programs.chunk_memory(layout, t, dtypes, data) for t in (1, 2))
        width = min(width, max(shards, int(budget // max(two - one, 1)) // shards * shards))
    return width
