"""Interrupting a sweep from its callback, as a kill would after a checkpoint (no JAX here:
the multi-process worker imports it before ``jax.distributed.initialize``)."""


class Stop(Exception):
    """Raised by a sweep's callback to interrupt it after its checkpoint."""


def stop_at(step: int):
    """A ``Runner.run`` callback that raises ``Stop`` once the sweep reaches ``step``."""
    def callback(info):
        if info["step"] == step:
            raise Stop

    return callback
