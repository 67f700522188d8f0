"""Frame sources: a folder of images (GeoTIFF, PNG, JPEG...) or a video file, frames numbered from 1.

Numbering, as MOT numbers frames:

* image folder: frame k is the k-th file in natural order of the file names (``f2.png`` before ``f10.png``),
  counting from 1; with ``number_from="name"`` frame k is the file whose name holds the number k (its last
  digit run), for folders that start at 0 or have gaps.
* video file: frame k is the k-th decoded frame, counting from 1 (decoded sequentially with OpenCV, never by
  seeking, so the numbering does not depend on the container's index).

Georeferenced frames keep their CRS and transform; PNG/JPEG frames and video frames have ``crs=None`` and the
identity transform (pixel coordinates, y down).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyproj
from affine import Affine

from rossam_geo.errors import InputError, OptionError, RasterError
from rossam_geo.io.files import list_files
from rossam_geo.io.video import looks_like_text, open_video

if TYPE_CHECKING:
    from rossam_geo.io import SceneInfo
    from rossam_geo.segmentation.options import SegmentOptions

__all__ = [
    "IMAGE_SUFFIXES",
    "FrameInfo",
    "FrameSource",
    "ImageFolderFrames",
    "VideoFileFrames",
    "open_frames",
]

#: File name endings read as frames from a folder.
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".jp2", ".bmp")
_LAST_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class FrameInfo:
    """Where a frame sits and how big it is.

    Attributes:
        number: frame number (1-based, see the module docstring).
        name: file name (image folders) or ``"<video name>#<number>"``.
        width, height: size in pixels.
        crs: the frame's CRS, None for plain images and video.
        transform: pixel -> CRS affine (identity without georeferencing).
    """

    number: int
    name: str
    width: int
    height: int
    crs: pyproj.CRS | None
    transform: Affine

    @property
    def pixel_area(self) -> float:
        """Area of one pixel in CRS units squared (1.0 without georeferencing)."""
        return abs(self.transform.a * self.transform.e - self.transform.b * self.transform.d)


class FrameSource:
    """Frames that can be listed and read by number. Create one with :func:`open_frames`."""

    path: str
    kind: Literal["images", "video"]
    #: frame number -> why it could not be read, filled by :meth:`read`.
    read_errors: dict[int, str]

    def frame_numbers(self) -> list[int]:
        """Numbers of the frames the source holds, ascending."""
        raise NotImplementedError

    def frame_stems(self) -> list[str] | None:
        """File names without extension in frame order (image folders), None for video."""
        return None

    def info(self, number: int) -> FrameInfo:
        """Size and georeferencing of frame ``number`` (without reading its pixels).

        Raises:
            InputError: the source has no frame ``number``.
        """
        raise NotImplementedError

    def read(self, numbers: Sequence[int]) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """Yield (info, rgb_u8 (H, W, 3) uint8) for each of ``numbers`` the source holds, ascending.

        Numbers the source lacks, and frames that cannot be read, are skipped; the caller reports them.
        """
        raise NotImplementedError

    def check(self, options: SegmentOptions) -> None:
        """Refuse, before any work, options that do not fit the frames (see
        :func:`rossam_geo.segmentation.run.check_scene`); video frames are RGB, so bands do not apply.

        Raises:
            OptionError: ``bands`` for a video, or bands the first frame does not have.
        """
        if options.bands is not None:
            raise OptionError(
                "bands", "applies to folders of image frames; a video is decoded as RGB; drop it"
            )


class ImageFolderFrames(FrameSource):
    """A folder of frame images, read through :func:`rossam_geo.io.open_raster`.

    Non-uint8 frames are stretched to uint8 per frame (2-98 percentiles), so each frame's pixels do not depend
    on which other frames are read with it.
    """

    kind: Literal["images", "video"] = "images"

    def __init__(
        self,
        path: str | Path,
        *,
        number_from: Literal["position", "name"] = "position",
        bands: Sequence[int] | None = None,
    ) -> None:
        folder = Path(path)
        files = list_files(folder, IMAGE_SUFFIXES)
        if not files:
            raise RasterError(
                f"no frames in {str(folder)!r}; expected images ending in {', '.join(IMAGE_SUFFIXES)}"
            )
        self.path = str(folder)
        self.read_errors: dict[int, str] = {}
        self.bands = None if bands is None else tuple(bands)
        if number_from == "position":
            self._files = {k: f for k, f in enumerate(files, start=1)}
        elif number_from == "name":
            self._files = {}
            for f in files:
                match = _LAST_NUMBER.search(f.stem)
                if match is None:
                    raise RasterError(
                        f"frame file {f.name!r} has no number in its name; use position numbering"
                    )
                number = int(match.group(1))
                if number in self._files:
                    raise RasterError(
                        f"frame files {self._files[number].name!r} and {f.name!r} both hold number {number}; "
                        "use position numbering"
                    )
                self._files[number] = f
        else:
            raise InputError(f"frame numbering must be 'position' or 'name', got {number_from!r}")

    def frame_numbers(self) -> list[int]:
        return sorted(self._files)

    def frame_stems(self) -> list[str] | None:
        if self.frame_numbers() != list(range(1, len(self._files) + 1)):
            return None
        return [self._files[k].stem for k in self.frame_numbers()]

    def _file(self, number: int) -> Path:
        try:
            return self._files[number]
        except KeyError:
            raise InputError(f"frame {number} is not in {self.path!r} ({len(self._files)} frames)") from None

    def info(self, number: int) -> FrameInfo:
        from rossam_geo.io import open_raster

        with open_raster(self._file(number)) as reader:
            return _frame_info(number, reader.info)

    def check(self, options: SegmentOptions) -> None:
        from rossam_geo.io import open_raster
        from rossam_geo.segmentation.run import check_scene

        with open_raster(self._file(self.frame_numbers()[0])) as reader:
            check_scene(reader, options)

    def read(self, numbers: Sequence[int]) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        from rossam_geo.io import open_raster

        for number in sorted(set(numbers)):
            if number not in self._files:
                continue
            try:
                with open_raster(self._files[number]) as reader:
                    info = reader.info
                    rgb, _valid = reader.read_window_rgb(0, 0, info.width, info.height, bands=self.bands)
            except RasterError as exc:
                self.read_errors[number] = str(exc)
                continue
            yield _frame_info(number, info), rgb


def _frame_info(number: int, scene: SceneInfo) -> FrameInfo:
    return FrameInfo(number, scene.name, scene.width, scene.height, scene.crs, scene.transform)


#: bytes of a file looked at to tell text from a video container.
_SNIFF_BYTES = 4096
#: FFmpeg log level OpenCV passes on (AV_LOG_QUIET): unreadable files are reported by rossam-geo, in one line.
_FFMPEG_QUIET = "-8"


def _quiet_ffmpeg() -> None:
    """Keep FFmpeg's own messages ("moov atom not found"...) off stderr, unless the user set a level."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", _FFMPEG_QUIET)


_NOT_A_VIDEO = "; pass a video file (MP4, AVI, MKV...) that OpenCV decodes, or a folder of frame images"


class VideoFileFrames(FrameSource):
    """A video file decoded with OpenCV (``cv2.VideoCapture``); frame k = k-th decoded frame (1-based).

    The file is checked when the source is created: it must not be text and its first frame must decode.
    """

    kind: Literal["images", "video"] = "video"

    def __init__(self, path: str | Path) -> None:
        import cv2

        self.path = str(path)
        self.read_errors: dict[int, str] = {}
        if looks_like_text(Path(self.path), _SNIFF_BYTES):
            raise RasterError(f"{self.path!r} is a text file, not a video{_NOT_A_VIDEO}")
        _quiet_ffmpeg()
        capture = open_video(self.path)
        try:
            if not capture.isOpened():
                raise RasterError(f"cannot open {self.path!r} as a video{_NOT_A_VIDEO}")
            self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
            self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
            self._count_hint = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = float(capture.get(cv2.CAP_PROP_FPS)) or None
            ok, _first = capture.read()
            if not ok or self.width < 1 or self.height < 1:
                raise RasterError(f"video {self.path!r} has no frame OpenCV can decode{_NOT_A_VIDEO}")
        finally:
            capture.release()
        self._count: int | None = None
        self._capture: Any = None
        #: frames consumed from the open decoder (its next frame is number _decoded + 1)
        self._decoded = 0

    def frame_numbers(self) -> list[int]:
        if self._count is None:
            # The container's frame count is a hint only; count decodable frames once.
            _quiet_ffmpeg()
            capture = open_video(self.path)
            count = 0
            while capture.grab():
                count += 1
            capture.release()
            self._count = count
        return list(range(1, self._count + 1))

    def info(self, number: int) -> FrameInfo:
        if number < 1:
            raise InputError(f"video frames are numbered from 1, got {number}")
        name = f"{Path(self.path).name}#{number}"
        return FrameInfo(number, name, self.width, self.height, None, Affine.identity())

    def read(self, numbers: Sequence[int]) -> Iterator[tuple[FrameInfo, np.ndarray]]:
        """Decode the wanted frames in order; the decoder stays open, so reading later frames next continues
        where the last read stopped instead of decoding from the start again."""
        import cv2

        _quiet_ffmpeg()
        for number in sorted({n for n in numbers if n >= 1}):
            if self._capture is None or self._decoded >= number:
                self.close()
                self._capture = open_video(self.path)
            while self._decoded < number - 1:
                if not self._capture.grab():
                    self.close()
                    return
                self._decoded += 1
            ok, bgr = self._capture.read()
            if not ok:
                self.close()
                return
            self._decoded += 1
            yield self.info(number), cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        """Release the decoder (reading again reopens it)."""
        if self._capture is not None:
            self._capture.release()
        self._capture = None
        self._decoded = 0


def open_frames(
    path: str | Path,
    *,
    number_from: Literal["position", "name"] = "position",
    bands: Sequence[int] | None = None,
) -> FrameSource:
    """Open a folder of frame images or a video file.

    Args:
        path: folder of images, or a video file OpenCV can decode (MP4, AVI...).
        number_from: image folders: number frames by ``"position"`` in natural order or by the number in the
            file ``"name"``.
        bands: image folders: 1-based bands to use as RGB
            (see :meth:`rossam_geo.io.RasterReader.resolve_bands`).

    Raises:
        RasterError: the path is missing, holds no frames, or cannot be decoded.
    """
    p = Path(path)
    if p.is_dir():
        return ImageFolderFrames(p, number_from=number_from, bands=bands)
    if not p.exists():
        raise RasterError(f"frames {str(p)!r} do not exist; pass a folder of images or a video file")
    return VideoFileFrames(p)
