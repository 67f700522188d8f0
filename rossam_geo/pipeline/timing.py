"""Seconds spent in each stage of a run: window reads and resampling, the engine, polygons, writing."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

#: the stages, in pipeline order.
STAGES = ("read", "engine", "polygons", "write")


@dataclass
class StageTimes:
    """Busy seconds of each stage of one run, summed over the threads and processes running it.

    Stages overlap (reads run ahead, the engine works on its own thread, polygons on a pool of workers), so
    the stages' seconds add up to more than the wall time when the pipeline keeps every part busy.

    Attributes:
        seconds: stage name (see :data:`STAGES`) -> busy seconds.
        boxes: boxes the run handled.
    """

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    boxes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` of work in ``stage`` (thread-safe)."""
        with self._lock:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + float(seconds)

    def per_box_ms(self) -> dict[str, float]:
        """Stage name -> milliseconds per box (0 without boxes)."""
        return {name: 1000.0 * s / self.boxes if self.boxes else 0.0 for name, s in self.seconds.items()}

    def summary(self) -> str:
        """One line: each stage's milliseconds per box, e.g. ``read 1.2, engine 28.4, ... ms per box``."""
        parts = ", ".join(f"{name} {ms:.1f}" for name, ms in self.per_box_ms().items())
        return f"{parts} ms per box ({self.boxes} boxes)"
