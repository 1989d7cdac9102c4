"""A worker thread for work that must not hold up an answer (e.g. sending mail).

Jobs run one at a time in submission order. The queue is bounded: when it is full, new jobs
are dropped with a warning rather than letting a flood of requests grow memory.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundJobs:
    def __init__(self, max_pending: int = 1000) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; False when the queue is full and the job was dropped."""
        self._start()
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            log.warning("background queue full: a job was dropped")
            return False
        return True

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="background-jobs", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                job()
            except Exception:  # a failed job must not stop the ones after it
                log.exception("background job failed")
