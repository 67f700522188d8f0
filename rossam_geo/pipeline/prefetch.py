"""Overlapped input preparation: read and resample the next batches on CPU threads while the model runs.

Reading a window (GDAL), stretching it to RGB and the bicubic 2x upsampling (OpenCV, which releases the GIL)
take a few milliseconds per box, during which an accelerator would sit idle. :func:`prefetch_map` runs the
preparation of up to ``depth`` batches ahead on a small thread pool and hands the results back strictly in
input order, so the device works on batch k while batches k+1 .. k+depth are being read.

Window sources (rasterio datasets in particular) are not safe for concurrent reads: :class:`SerializedSource`
lets only one thread read at a time, while the resampling of other windows proceeds in parallel.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")
R = TypeVar("R")


class SerializedSource:
    """A window source whose ``read_window`` calls run one at a time (any thread).

    Args:
        source: an object with ``width``, ``height`` and ``read_window(col_off, row_off, width, height)``
            returning ``(rgb (h, w, 3) uint8, valid (h, w) bool)``.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.width = int(source.width)
        self.height = int(source.height)
        self._lock = threading.Lock()

    def read_window(
        self, col_off: int, row_off: int, width: int, height: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The wrapped source's window, read under the lock."""
        with self._lock:
            return self.source.read_window(col_off, row_off, width, height)  # type: ignore[no-any-return]


def prefetch_map(
    fn: Callable[[T], R], items: Iterable[T], *, depth: int = 2, workers: int = 1
) -> Generator[tuple[T, R], None, None]:
    """Yield ``(item, fn(item))`` in input order, computing up to ``depth`` results ahead on threads.

    With ``depth`` 0 everything runs in the calling thread, one item at a time (no threads). Otherwise at
    most ``depth`` items are being prepared or waiting at any time, which bounds memory: the queue holds
    ``depth`` prepared batches. An exception raised by ``fn`` for an item is re-raised when that item's
    turn comes (items before it are still yielded). Closing the generator early cancels the work not yet
    started and waits for the running calls to finish.

    Args:
        fn: the preparation of one item; must be thread-safe when ``workers`` > 1.
        items: the work items (consumed lazily, ``depth`` ahead).
        depth: how many items to prepare ahead (>= 0).
        workers: threads preparing items (>= 1); reads stay serialized by :class:`SerializedSource`.

    Raises:
        ValueError: ``depth`` < 0 or ``workers`` < 1.
    """
    if depth < 0:
        raise ValueError(f"prefetch depth must be >= 0, got {depth}")
    if workers < 1:
        raise ValueError(f"prefetch workers must be >= 1, got {workers}")
    if depth == 0:
        for item in items:
            yield item, fn(item)
        return
    iterator = iter(items)
    queue: deque[tuple[T, Future[R]]] = deque()
    executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="rossam-prefetch")
    try:
        for item in iterator:
            queue.append((item, executor.submit(fn, item)))
            if len(queue) > depth:
                head, future = queue.popleft()
                yield head, future.result()
        while queue:
            head, future = queue.popleft()
            yield head, future.result()
    finally:
        for _, future in queue:
            future.cancel()
        executor.shutdown(wait=True)
