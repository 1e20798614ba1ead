"""A progress bar for long commands: redrawn in place on a terminal, a plain line every few seconds
when the output is a file or a pipe (CI logs), so waiting always shows how far and how fast."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30


class Progress:
    def __init__(
        self,
        label: str,
        total: int,
        *,
        out: TextIO | None = None,
        every_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = max(0, total)
        self.out = out if out is not None else sys.stderr
        self.every_seconds = every_seconds
        self.clock = clock
        self.started = clock()
        self.done = 0
        self._last_line = float("-inf")
        self._interactive = self.out.isatty()

    def render(self, detail: str = "") -> str:
        total = max(1, self.total)
        filled = BAR_WIDTH * min(self.done, total) // total
        elapsed = self.clock() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else None
        eta = f" ETA {left:.0f} s" if left is not None and self.done < self.total else ""
        line = (
            f"{self.label} [{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done}/{self.total}"
            f" {100 * self.done // total}% {rate:.1f}/s{eta}"
        )
        return f"{line} {detail}".rstrip()

    def update(self, done: int, detail: str = "") -> None:
        """Record `done` (absolute, not an increment); draw if it is time to."""
        self.done = done
        now = self.clock()
        if self._interactive:
            print(f"\r{self.render(detail)}\x1b[K", end="", file=self.out, flush=True)
        elif now - self._last_line >= self.every_seconds or done >= self.total:
            print(self.render(detail), file=self.out, flush=True)
            self._last_line = now

    def advance(self, by: int = 1, detail: str = "") -> None:
        self.update(self.done + by, detail)

    def finish(self, detail: str = "") -> None:
        """The last state, on a line of its own."""
        if self._interactive:
            print(f"\r{self.render(detail)}\x1b[K", file=self.out, flush=True)
        elif self.done < self.total or self._last_line == float("-inf"):
            print(self.render(detail), file=self.out, flush=True)
