"""Small threading helpers so decoding, the network and encoding overlap.

Each stage runs in its own thread joined by a bounded queue: memory stays bounded by
the queue sizes, and the slowest stage, not the sum of all, sets the pace (PyAV, OpenCV
and torch release the GIL while they work).
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class Prefetch(Generic[T]):
    """Runs an iterator in a background thread, `size` items ahead; errors re-raise in the consumer."""

    def __init__(self, source: Iterator[T], size: int = 8):
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source,), daemon=True)
        self.thread.start()

    def _run(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                while not self._stop.is_set():
                    try:
                        self.q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if self._stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self.error = e
        finally:
            self.q.put(_END)

    def __iter__(self) -> Iterator[T]:
        while True:
            item = self.q.get()
            if item is _END:
                if self.error is not None:
                    raise self.error
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        while self.thread.is_alive():
            try:
                self.q.get(timeout=0.1)
            except queue.Empty:
                pass


class Worker:
    """Consumes items in a background thread with `fn`; `put` blocks when `size` are waiting."""

    def __init__(self, fn: Callable[[object], None], size: int = 8):
        self.fn = fn
        self.q: queue.Queue = queue.Queue(maxsize=size)
        self.error: BaseException | None = None
        self._cancelled = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.q.get()
            if item is _END:
                return
            if self.error is None and not self._cancelled:
                try:
                    self.fn(item)
                except BaseException as e:  # noqa: BLE001 - handed to the producer
                    self.error = e

    def put(self, item: object) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(item)

    def cancel(self) -> None:
        """Skip what is still queued and wait for the thread, so its resources can be closed safely."""
        self._cancelled = True
        self.q.put(_END)
        self.thread.join()

    def finish(self) -> None:
        """Wait for every queued item; re-raise the first error."""
        self.q.put(_END)
        self.thread.join()
        if self.error is not None:
            raise self.error
