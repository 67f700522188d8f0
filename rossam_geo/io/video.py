"""Video files opened for decoding, and image files written from arrays (OpenCV)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["open_video", "write_image_rgb"]


def open_video(path: str | Path) -> Any:
    """A ``cv2.VideoCapture`` decoding ``path`` (check its ``isOpened()``)."""
    import cv2

    return cv2.VideoCapture(str(path))


def write_image_rgb(path: str | Path, image_rgb_u8: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 RGB image (format from the extension, e.g. PNG).

    Raises:
        OSError: OpenCV could not write the file.
    """
    import cv2

    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image_rgb_u8), cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write image {str(path)!r}")
