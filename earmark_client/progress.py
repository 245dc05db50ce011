"""A small progress bar on stderr; silent when stderr is not a terminal (scripts, CI, pipes)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30
_MIN_INTERVAL_S = 0.1


def format_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class ProgressBar:
    """``label [#####.....]  42/100 extra``; ``total`` None draws a counter without a bar."""

    def __init__(
        self,
        label: str,
        *,
        total: float | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        as_bytes: bool = False,
    ) -> None:
        self.label, self.total, self.as_bytes = label, total, as_bytes
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done: float = 0
        self.extra = ""
        self._last_draw = 0.0
        self._drawn = False

    def update(
        self, done: float | None = None, *, total: float | None = None, extra: str | None = None
    ) -> None:
        if done is not None:
            self.done = done
        if total is not None:
            self.total = total
        if extra is not None:
            self.extra = extra
        now = time.monotonic()
        if now - self._last_draw >= _MIN_INTERVAL_S:
            self._draw()
            self._last_draw = now

    def advance(self, step: float = 1) -> None:
        self.update(self.done + step)

    def render(self) -> str:
        amount = format_bytes if self.as_bytes else (lambda n: f"{n:,.0f}")
        if self.total:
            fraction = min(max(self.done / self.total, 0.0), 1.0)
            filled = round(fraction * _WIDTH)
            bar = f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {fraction:4.0%}"
            count = f"{amount(self.done)}/{amount(self.total)}"
        else:
            bar, count = "", amount(self.done)
        return " ".join(p for p in (self.label, bar, count, self.extra) if p)

    def _draw(self) -> None:
        if not self.enabled:
            return
        self.stream.write("\r\x1b[2K" + self.render())
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line."""
        if not self.enabled:
            return
        self._draw()
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
