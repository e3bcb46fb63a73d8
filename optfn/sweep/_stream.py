"""Data that does not fit on the device: host batches streamed one chunk at a time.

A ``Stream`` yields host batches (NumPy pytrees, e.g. slices of a memory-mapped
``.npy`` file or a data loader's output). The runner stacks ``chunk_steps`` of them on
the host into one ``(chunk_steps, batch, ...)`` array per leaf, puts it on the devices
(replicated over the mesh; with several processes each process feeds its own copy with
``jax.make_array_from_process_local_data``) and trains every trial alive in that chunk
on it: step ``t`` of the chunk is batch ``t`` for every trial. While one chunk trains, a
background thread reads and places the next.

A sweep that starts at step ``s`` (a resumed checkpoint, ``confirm``, a second round)
needs batch ``s`` next: a function ``step -> iterator`` is called with ``s``; an iterable
that can be iterated again (a list, a data loader, an object with ``__iter__``) is
iterated from its start and the first ``s`` batches are skipped (when a pass ends, the
next pass begins, so each pass is an epoch); a one-shot iterator (a generator) can only
move forward.
"""

import collections.abc
import concurrent.futures
from typing import Any, Callable, Iterable, Optional, Union

import jax
import numpy as np

from . import _mesh


class Stream:
    """Host batches for a ``Runner``, read in order and fed to every trial.

    Args:
        source: an iterable of batches (each a pytree of NumPy arrays with the batch as
            the leading dimension; every batch the same shapes), or a function
            ``step -> iterator`` yielding the batches from global step ``step`` on (so a
            resumed sweep starts at its step without reading what came before).

    ``Runner(data=...)`` wraps a generator, iterator or other non-array iterable in a
    ``Stream`` itself; pass a ``Stream`` for the function form. With ``Runner(epochs=...)``
    the source needs ``len()`` (batches per pass).

    Example:
        >>> import numpy as np
        >>> from optfn import sweep
        >>> x = np.arange(12.0).reshape(6, 2)
        >>> stream = sweep.Stream(lambda step: ({"x": x[i % 3 * 2:i % 3 * 2 + 2]} for i in range(step, 10**9)))
        >>> first, second = stream.read(4, 2)  # batches 4 and 5, as a resumed sweep reads them
        >>> first.get("x")  # batch 4 is rows 2 and 3
        array([[4., 5.],
               [6., 7.]])
    """

    def __init__(self, source: Union[Iterable, Callable[[int], Iterable]]):
        if isinstance(source, Stream):
            source = source.source
        if not (callable(source) or isinstance(source, collections.abc.Iterable)):
            raise TypeError(f"Stream: source must be an iterable of batches or a function step -> iterator, "
                            f"got {source!r}.")
        self.source = source
        self._it, self._pos = None, None  # the open iterator and the global step of its next batch
        self._back = []  # a batch read ahead of the iterator (the first, for its shapes)
        self._spec = None  # (treedef, shapes, dtypes) of the first batch: every batch must match

    @property
    def one_shot(self) -> bool:
        return not callable(self.source) and iter(self.source) is self.source

    def __len__(self) -> int:
        if callable(self.source) or not hasattr(self.source, "__len__"):
            raise TypeError("Stream: this source has no len(); pass steps= rather than epochs=, or a source "
                            "with len() (batches per pass), e.g. a list or a data loader.")
        return len(self.source)

    def _open(self, step: int) -> None:
        """Make the next batch read be batch ``step``."""
        if self._pos == step:
            return
        self._back = []
        if callable(self.source):
            self._it, self._pos = iter(self.source(step)), step
            return
        if self.one_shot:
            if self._pos is None:
                self._it, self._pos = self.source, 0
            elif self._pos > step:
                raise ValueError(
                    f"Runner: the data stream is a one-shot iterator already read up to batch {self._pos}, "
                    f"but this run starts at step {step}. Pass an iterable that can be iterated again (a "
                    "list, a data loader) or sweep.Stream(lambda step: iterator from step) so that resume, "
                    "confirm and later rounds can replay it.")
        elif self._pos is None or self._pos > step:
            self._it, self._pos = iter(self.source), 0
        while self._pos < step:
            self._next()

    def _next(self):
        if self._back:
            self._pos += 1
            return self._back.pop()
        try:
            batch = next(self._it)
        except StopIteration:
            if callable(self.source) or self.one_shot:
                raise ValueError(
                    f"Runner: the data stream ended after {self._pos} batches, but the sweep needs more. "
                    "Yield batches for every step (steps x the runs that replay it), or pass an iterable "
                    "that can be iterated again (each pass is an epoch).") from None
            self._it = iter(self.source)  # a new pass over the data
            try:
                batch = next(self._it)
            except StopIteration:
                raise ValueError("Runner: the data stream yields no batches.") from None
        self._pos += 1
        return batch

    def _checked(self, batch, step: int):
        leaves, tree = jax.tree.flatten(batch)
        leaves = [np.asarray(a) for a in leaves]
        spec = (tree, tuple(a.shape for a in leaves), tuple(a.dtype for a in leaves))
        if self._spec is None:
            if not leaves or any(a.ndim == 0 for a in leaves):
                raise ValueError(f"Runner: each batch of the data stream must be a pytree of arrays with the "
                                 f"batch as leading dimension, got {batch!r} at step {step}.")
            self._spec = spec
        elif spec != self._spec:
            raise ValueError(
                f"Runner: batch {step} of the data stream has structure {tree} and shapes {list(spec[1])} "
                f"({[str(d) for d in spec[2]]}), but the first batch had {self._spec[0]} and "
                f"{list(self._spec[1])} ({[str(d) for d in self._spec[2]]}); every batch must match (drop "
                "the last partial batch of a pass).")
        return jax.tree.unflatten(tree, leaves)

    def read(self, step: int, n: int) -> list:
        """Batches ``step .. step + n - 1`` as host pytrees."""
        self._open(step)
        return [self._checked(self._next(), step + i) for i in range(n)]

    def chunk(self, step: int, n: int):
        """Batches ``step .. step + n - 1`` stacked: one ``(n, batch, ...)`` array per leaf."""
        batches = self.read(step, n)
        return jax.tree.map(lambda *a: np.stack(a), *batches)

    def spec(self, n: int):
        """The shapes of a chunk of ``n`` batches (the first batch is read for them if
        none was read yet, and kept for the run that follows)."""
        if self._spec is None:
            self._open(0 if self._pos is None else self._pos)
            batch = self._checked(self._next(), self._pos - 1)
            self._back.append(batch)
            self._pos -= 1
        tree, shapes, dtypes = self._spec
        return jax.tree.unflatten(tree, [jax.ShapeDtypeStruct((n, *s), d) for s, d in zip(shapes, dtypes)])


class Feeder:
    """One run's chunks of a ``Stream`` on the devices, the next one read in the background."""

    def __init__(self, stream: Stream, chunk_steps: int, mesh, step: int, end: int):
        self.stream, self.n, self.mesh, self.step, self.end = stream, chunk_steps, mesh, step, end
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="optfn-stream")
        self._future = self._pool.submit(self._load, step)

    def _load(self, step: int) -> Any:
        chunk = self.stream.chunk(step, self.n)
        placed = _mesh.replicate(chunk, self.mesh)
        return jax.tree.map(jax.numpy.asarray, placed) if self.mesh is None else placed

    def current(self):
        """The chunk for steps ``step .. step + chunk_steps - 1`` (waits for its read)."""
        if self._future is None:  # past the planned steps (a strategy of one's own): read it now
            self._future = self._pool.submit(self._load, self.step)
        return self._future.result()

    def advance(self) -> None:
        """Drop the current chunk and start reading the next (unless the sweep ends here)."""
        self.step += self.n
        self._future = self._pool.submit(self._load, self.step) if self.step < self.end else None

    def close(self) -> None:
        if self._future is not None:
            self._future.cancel()
        self._pool.shutdown(wait=True)


def is_stream(data: Any) -> bool:
    """Whether ``Runner(data=...)`` is a stream of batches rather than arrays or a batch function."""
    if isinstance(data, Stream):
        return True
    if callable(data) or isinstance(data, (dict, list, tuple, np.ndarray, jax.Array)):
        return False
    return isinstance(data, collections.abc.Iterable)


def as_stream(data: Any) -> Optional[Stream]:
    return (data if isinstance(data, Stream) else Stream(data)) if is_stream(data) else None
