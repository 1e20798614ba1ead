"""The local stack's stdout, written a whole line at a time.

In AWS each function's log lines are records of their own. Locally every function shares one process's
stdout, and `print` writes a line and its newline in two calls, so two functions printing at once (an
EMF metric and a log line, say) could run into one garbled line that no log reader can parse. Each
thread's text is held until its line ends, then the whole line is written under one lock.
"""

from __future__ import annotations

import threading
from typing import Any, TextIO


class WholeLines:
    """Wraps a text stream: a thread's partial line waits for its newline (or a `flush`)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._pending = threading.local()

    def write(self, text: str) -> int:
        held: str = getattr(self._pending, "text", "") + text
        complete, newline, rest = held.rpartition("\n")
        self._pending.text = rest
        if newline:
            with self._lock:
                self._stream.write(complete + newline)
        return len(text)

    def flush(self) -> None:
        held: str = getattr(self._pending, "text", "")
        self._pending.text = ""
        with self._lock:
            if held:
                self._stream.write(held)
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # encoding, isatty, fileno, ...: the stream's own
        return getattr(self._stream, name)
