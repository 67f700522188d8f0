from __future__ import annotations

import cv2
import numpy as np
import pyproj
import pytest
from affine import Affine

from rossam_geo.errors import InputError, RasterError
from rossam_geo.video.frames import ImageFolderFrames, VideoFileFrames, open_frames
from tests.geo.fakes import UTM33_TRANSFORM, make_geotiff, make_png


def _constant_frame(value: int, width: int = 32, height: int = 24) -> np.ndarray:
    return np.full((3, height, width), value, dtype=np.uint8)


def test_folder_frames_are_numbered_in_natural_order(tmp_path):
    for k, name in ((1, "f1.png"), (2, "f2.png"), (10, "f10.png")):
        make_geotiff(tmp_path / name, data=_constant_frame(k), crs=None, transform=None, driver="PNG")
    source = open_frames(tmp_path)
    assert isinstance(source, ImageFolderFrames)
    assert source.frame_numbers() == [1, 2, 3]
    assert source.frame_stems() == ["f1", "f2", "f10"]
    read = {info.number: (info, rgb) for info, rgb in source.read([3, 1, 7])}
    assert sorted(read) == [1, 3]  # frame 7 does not exist: skipped
    info, rgb = read[3]
    assert info.name == "f10.png" and rgb.shape == (24, 32, 3) and (rgb == 10).all()
    assert info.crs is None and info.transform == Affine.identity() and info.pixel_area == 1.0


def test_name_numbering_uses_the_number_in_the_file_name(tmp_path):
    for k in (0, 5):
        make_geotiff(
            tmp_path / f"{k:06d}.png", data=_constant_frame(k + 1), crs=None, transform=None, driver="PNG"
        )
    source = open_frames(tmp_path, number_from="name")
    assert source.frame_numbers() == [0, 5]
    assert source.frame_stems() is None
    ((info, rgb),) = source.read([5])
    assert info.name == "000005.png" and (rgb == 6).all()
    with pytest.raises(InputError, match="frame 3 is not in"):
        source.info(3)


def test_geotiff_frames_keep_their_crs_and_transform(tmp_path):
    make_geotiff(tmp_path / "a.tif")
    info = open_frames(tmp_path).info(1)
    assert info.crs == pyproj.CRS.from_epsg(32633)
    assert info.transform == UTM33_TRANSFORM and info.pixel_area == 0.25


def test_unreadable_frame_is_reported_not_raised(tmp_path):
    make_geotiff(tmp_path / "a.tif", count=2)  # 2 bands: needs --bands
    source = open_frames(tmp_path)
    assert list(source.read([1])) == []
    assert "has 2 bands" in source.read_errors[1]


def test_folder_without_frames_and_missing_path(tmp_path):
    with pytest.raises(RasterError, match="no frames in"):
        open_frames(tmp_path)
    with pytest.raises(RasterError, match="do not exist"):
        open_frames(tmp_path / "nothing.mp4")


@pytest.mark.parametrize("name", ["notes.mp4", "notes.txt", "notes.mkv"])
def test_a_text_file_named_as_a_video_is_refused_in_one_line(tmp_path, name):
    path = tmp_path / name
    path.write_text("frame,id,x,y,w,h\n1,1,10,10,20,20\n" * 200)  # ffmpeg renders .txt as video frames
    with pytest.raises(RasterError) as caught:
        open_frames(path)
    assert str(caught.value) == (
        f"{str(path)!r} is a text file, not a video; pass a video file (MP4, AVI, MKV...) that OpenCV "
        "decodes, or a folder of frame images"
    )


def test_a_file_that_no_decoder_reads_is_refused_before_any_work(tmp_path):
    path = tmp_path / "noise.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(RasterError, match=r"^cannot open '.*noise.mp4' as a video; pass a video file"):
        open_frames(path)


def test_video_frame_k_is_the_kth_decoded_frame(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (32, 24))
    for k in range(1, 8):
        writer.write(np.full((24, 32, 3), 30 * k, dtype=np.uint8))
    writer.release()
    source = open_frames(path)
    assert isinstance(source, VideoFileFrames)
    assert source.frame_numbers() == list(range(1, 8))
    frames = list(source.read([6, 2, 9]))
    assert [info.number for info, _ in frames] == [2, 6]
    for info, rgb in frames:
        assert rgb.shape == (24, 32, 3) and info.crs is None
        assert abs(float(rgb.mean()) - 30 * info.number) < 4  # lossy codec
    assert frames[0][0].name == "clip.avi#2"


def test_png_frames_are_pixel_coordinates(tmp_path):
    make_png(tmp_path / "x.png")
    assert open_frames(tmp_path).info(1).crs is None


def test_video_reads_continue_forward_and_reopen_for_earlier_frames(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (32, 24))
    for k in range(1, 9):
        writer.write(np.full((24, 32, 3), 25 * k, dtype=np.uint8))
    writer.release()
    source = open_frames(path)
    for batch in ([2, 3], [6], [1, 8], [4]):  # forward, forward, back to the start, back again
        for info, rgb in source.read(batch):
            assert abs(float(rgb.mean()) - 25 * info.number) < 4
        assert [info.number for info, _ in source.read(batch)] == batch
    source.close()
