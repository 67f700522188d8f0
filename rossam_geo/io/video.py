"""Video files opened for decoding, and image files written from arrays (OpenCV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["looks_like_text", "open_video", "write_image_rgb"]


def open_video(path: str | Path) -> Any:
    """A ``cv2.VideoCapture`` decoding ``path`` (check its ``isOpened()``)."""
    import cv2

    return cv2.VideoCapture(str(path))


def looks_like_text(path: str | Path, sniff_bytes: int = 4096) -> bool:
    """True when the file's first ``sniff_bytes`` bytes are text (every video container has a binary
    header), so a text file named as a video is refused before a decoder tries it."""
    with open(path, "rb") as f:
        head = f.read(sniff_bytes)
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not merely a character cut at the end of the sample
            return False
    return True


def write_image_rgb(path: str | Path, image_rgb_u8: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image (format from the extension, e.g. PNG).

    Raises:
        OSError: OpenCV could not write the file.
    """
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image_rgb_u8), cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write image {str(path)!r}")
