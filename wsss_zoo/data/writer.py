"""Writing outputs in a background thread, so that the network never waits for PNG/npy encoding.

Jobs run one at a time, in the order they were given; at most ``depth`` wait (a full queue makes
:meth:`BackgroundWriter.submit` wait, which bounds the memory held by finished outputs). A
:class:`~wsss_zoo.errors.WsssZooError` of a job is recorded against its key when ``keep_going``;
any other failure (or any failure without ``keep_going``) stops the writer and is raised in the caller's
thread by the next :meth:`~BackgroundWriter.submit` or by :meth:`~BackgroundWriter.close`.
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Dict, Optional, Tuple

from ..errors import WsssZooError

_STOP = object()


class BackgroundWriter:
    def __init__(self, *, depth: int = 8, keep_going: bool = False):
        self.keep_going = keep_going
        self.done = 0
        self.failed: Dict[object, str] = {}
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, depth))
        self._fatal: Optional[Tuple[object, BaseException]] = None
        self._fatal_raised = False
        self._thread = threading.Thread(target=self._work, name="wsss_zoo-writer", daemon=True)
        self._thread.start()

    def submit(self, key, job: Callable[[], None]) -> None:
        """Queue ``job()`` (the write of output ``key``); raises an earlier job's fatal error."""
        self._raise_fatal()
        self._queue.put((key, job))

    def close(self) -> None:
        """Finish the queued jobs and stop; raises a fatal error of any job."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_fatal()

    def _work(self) -> None:
        while True:
            task = self._queue.get()
            if task is _STOP:
                return
            if self._fatal is not None:
                continue  # drain: nothing more is written after a fatal error
            key, job = task
            try:
                job()
                self.done += 1
            except WsssZooError as exc:
                if self.keep_going:
                    self.failed[key] = str(exc)
                else:
                    self._fatal = (key, exc)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._fatal = (key, exc)

    def _raise_fatal(self) -> None:
        if self._fatal is None or self._fatal_raised:
            return
        key, exc = self._fatal
        self._fatal_raised = True
        if isinstance(exc, WsssZooError):
            raise type(exc)(f"{key}: {exc}") from exc
        raise exc
