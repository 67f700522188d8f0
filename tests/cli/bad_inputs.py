"""Files for the bad-input table (:mod:`tests.cli.test_bad_input`): each is built on demand by name.

A row of the table names files by their name in its command line (``scene.tif``, ``evil.pth``...); the
:class:`Workspace` builds exactly those, in the row's own folder, with the builder registered under that name
in :data:`BUILDERS`. To add a file kind, write a builder and decorate it with ``@builds("name.ext")``; a
builder may ask the workspace for other files it derives from (``ws.path("scene.tif")``).

Everything is tiny and georeferenced in UTM 33N (EPSG:32633) with 0.5 m pixels.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tests.geo.fakes import UTM33_TRANSFORM, make_csv_prompts, make_geotiff, make_png, make_vector_prompts

Builder = Callable[["Workspace", Path], None]
#: file name -> the function writing it.
BUILDERS: dict[str, Builder] = {}
#: the scene's objects as pixel boxes (xmin, ymin, xmax, ymax)
BOXES_PX = [(4.0, 4.0, 20.0, 20.0), (30.0, 10.0, 50.0, 30.0)]
#: file a pickle would create in the working folder if it were ever executed
PWNED = "PWNED"


def builds(name: str) -> Callable[[Builder], Builder]:
    """Register the decorated function as the builder of the file (or folder) ``name``."""

    def register(func: Builder) -> Builder:
        if name in BUILDERS:
            raise ValueError(f"two builders for {name!r}")
        BUILDERS[name] = func
        return func

    return register


class Workspace:
    """One row's folder; files are built the first time they are asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        """The path of ``name`` in the folder, built by its registered builder unless it exists."""
        target = self.root / name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            BUILDERS[name](self, target)
        return target

    def build_named_in(self, argv: list[str]) -> None:
        """Build every registered file that a token of ``argv`` (or the part after ``=``) names."""
        for token in argv:
            for part in {token, token.partition("=")[2]}:
                if part in BUILDERS:
                    self.path(part)

    def hashes(self) -> dict[str, str]:
        """SHA-256 of every file under the folder, by relative path."""
        return {
            str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


def _map_boxes(boxes_px: list[tuple[float, float, float, float]]) -> list[tuple[float, float, float, float]]:
    out = []
    for x0, y0, x1, y1 in boxes_px:
        left, top = UTM33_TRANSFORM @ (x0, y0)
        right, bottom = UTM33_TRANSFORM @ (x1, y1)
        out.append((left, bottom, right, top))
    return out


# ------------------------------------------------------------------------------------------------- rasters
@builds("scene.tif")
def _scene(ws: Workspace, path: Path) -> None:
    make_geotiff(path, width=64, height=48)


@builds("renamed.tif")
def _renamed(ws: Workspace, path: Path) -> None:
    path.write_text("xmin,ymin,xmax,ymax\n1,2,3,4\n")  # a CSV someone renamed


@builds("empty.tif")
def _empty(ws: Workspace, path: Path) -> None:
    path.write_bytes(b"")


@builds("truncated_header.tif")
def _truncated_header(ws: Workspace, path: Path) -> None:
    path.write_bytes(ws.path("scene.tif").read_bytes()[:200])


# ------------------------------------------------------------------------------------------------- prompts
@builds("boxes.geojson")
def _boxes(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX), classes=["car", "ship"])


@builds("pixel_boxes.csv")
def _pixel_csv(ws: Workspace, path: Path) -> None:
    make_csv_prompts(path, BOXES_PX)


@builds("odd_rows.csv")
def _odd_csv(ws: Workspace, path: Path) -> None:
    path.write_text("xmin,ymin,xmax,ymax\n4,4,20,20\nfoo,1,2,3\n30,10,50,30\n8,8,,12\n")


@builds("odd_coco.json")
def _odd_coco(ws: Workspace, path: Path) -> None:
    coco = {
        "images": [{"id": 1, "file_name": "scene.tif", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 16, 16]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": "not a box"},
            {"id": 3, "image_id": 1, "category_id": 1},
            {"id": 4, "image_id": 1, "category_id": 1, "bbox": [30, 10, 20, 20]},
        ],
    }
    path.write_text(json.dumps(coco))


@builds("prompts.txt")
def _prompts_txt(ws: Workspace, path: Path) -> None:
    path.write_text("4 4 20 20\n")


# ------------------------------------------------------------------------------------------------- outputs
@builds("existing.gpkg")
def _existing_gpkg(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX[:1]), layer="objects")


@builds("existing.png")
def _existing_png(ws: Workspace, path: Path) -> None:
    path.write_bytes(b"\x89PNG\r\n\x1a\n not really one, but the user's file\n")


@builds("eval/evaluation.json")
def _existing_evaluation(ws: Workspace, path: Path) -> None:
    path.write_text('{"overall": {"n": 7}}\n')


@builds("a_file")
def _a_file(ws: Workspace, path: Path) -> None:
    path.write_text("a file where a folder is expected\n")


# ------------------------------------------------------------------------------------------------- weights
@builds("evil.pth")
def _evil_pickle(ws: Workspace, path: Path) -> None:
    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, (f"touch {PWNED}",))

    with open(path, "wb") as f:
        pickle.dump({"image_encoder.pos_embed": Payload()}, f)


@functools.cache
def _tiny_export_bytes(kind: str) -> bytes:
    """A merged export of the ``tiny`` model (random weights) with its tensors all NaN (``"nan"``), times 1e30
    (``"overflow"``) or those of the ``tiny_wide`` model (``"wide"``: 61 of the wrong shape); built once per
    test session."""
    import tempfile

    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.checkpoint.merged import export_merged
    from rossam_geo.model.checkpoint.state import read_safetensors_header, read_state_dict, write_safetensors

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tiny.safetensors"
        export_merged(build_rossam("tiny", lora_rank=0), path)
        header, state = read_safetensors_header(path), read_state_dict(path)
        if kind == "nan":
            state = {k: v.fill_(float("nan")) if v.is_floating_point() else v for k, v in state.items()}
        elif kind == "overflow":  # finite, but the network's activations overflow float32
            state = {k: v * 1e30 if v.is_floating_point() else v for k, v in state.items()}
        else:
            wide = build_rossam("tiny_wide", lora_rank=0).state_dict()
            state = {k: wide.get(k, v).clone() for k, v in state.items()}
        write_safetensors(state, path, header, overwrite=True)
        return path.read_bytes()


@builds("nan.safetensors")
def _nan_weights(ws: Workspace, path: Path) -> None:
    path.write_bytes(_tiny_export_bytes("nan"))


@builds("wrong_shapes.safetensors")
def _wrong_shapes(ws: Workspace, path: Path) -> None:
    path.write_bytes(_tiny_export_bytes("wide"))


# --------------------------------------------------------------------------------------------------- video
@builds("notes.mp4")
def _text_video(ws: Workspace, path: Path) -> None:
    path.write_text("meeting notes\n" * 300)


@builds("noise.mp4")
def _noise_video(ws: Workspace, path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 6000, dtype=np.uint8).tobytes())


@builds("mot.txt")
def _mot(ws: Workspace, path: Path) -> None:
    path.write_text("1,1,10,10,20,20,1,-1,-1,-1\n2,1,12,10,20,20,1,-1,-1,-1\n")


# ---------------------------------------------------------------------------------------------- evaluation
@builds("gt.gpkg")
def _gt(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX), classes=["car", "ship"])


@builds("pred_without_ids.gpkg")
def _pred_without_ids(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX[::-1]), layer="objects")


@builds("masks")
def _mask_folder(ws: Workspace, path: Path) -> None:
    path.mkdir()
    make_geotiff(path / "1.tif", width=64, height=48, count=1, data=np.ones((1, 48, 64), np.uint8))


# ---------------------------------------------------------------------------------- more rasters and boxes
@builds("two_band.tif")
def _two_band(ws: Workspace, path: Path) -> None:
    make_geotiff(path, width=64, height=48, count=2)


@builds("frame.png")
def _frame_png(ws: Workspace, path: Path) -> None:
    make_png(path, width=64, height=48)


def _truncated(source: Path, path: Path, keep: float) -> None:
    """The first ``keep`` of ``source``'s bytes: its header (written first) is whole, its pixels cut."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@builds("truncated_data.tif")
def _truncated_data(ws: Workspace, path: Path) -> None:
    _truncated(ws.path("scene.tif"), path, 0.6)


@builds("tall.tif")
def _tall(ws: Workspace, path: Path) -> None:
    make_geotiff(path, width=32, height=240, blockysize=16)


@builds("tall_truncated.tif")
def _tall_truncated(ws: Workspace, path: Path) -> None:
    _truncated(ws.path("tall.tif"), path, 0.6)  # the strips of the top half stay readable


@builds("top_bottom.csv")
def _top_bottom(ws: Workspace, path: Path) -> None:
    make_csv_prompts(path, [(4.0, 4.0, 20.0, 20.0), (4.0, 210.0, 20.0, 226.0)])


@builds("many.csv")
def _many(ws: Workspace, path: Path) -> None:
    rng = np.random.default_rng(1)
    corners = rng.uniform((0, 0), (50, 35), size=(300, 2))
    make_csv_prompts(path, np.hstack([corners, corners + 10]))


@builds("latin1.csv")
def _latin1(ws: Workspace, path: Path) -> None:
    path.write_bytes("xmin,ymin,xmax,ymax,class\n4,4,20,20,véhicule\n".encode("latin-1"))


@builds("no_box_columns.csv")
def _no_box_columns(ws: Workspace, path: Path) -> None:
    path.write_text("a,b,c\n1,2,3\n")


@builds("header_only.csv")
def _header_only(ws: Workspace, path: Path) -> None:
    path.write_text("xmin,ymin,xmax,ymax\n")


@builds("binary.geojson")
def _binary_geojson(ws: Workspace, path: Path) -> None:
    path.write_bytes(np.random.default_rng(2).integers(0, 256, 3000, dtype=np.uint8).tobytes())


@builds("broken.json")
def _broken_json(ws: Workspace, path: Path) -> None:
    path.write_text('{"images": [{"id": 1,')


@builds("other_image_coco.json")
def _other_image_coco(ws: Workspace, path: Path) -> None:
    coco = {
        "images": [{"id": 1, "file_name": "another.tif", "width": 64, "height": 48}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 16, 16]}],
    }
    path.write_text(json.dumps(coco))


@builds("two_layers.gpkg")
def _two_layers(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX[:1]), layer="ships")
    make_vector_prompts(path, _map_boxes(BOXES_PX[1:]), layer="planes")


@builds("prompts.gpkg")
def _prompts_gpkg(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX), layer="boxes", classes=["car", "ship"])


@builds("no_crs.shp")
def _no_crs_shapefile(ws: Workspace, path: Path) -> None:
    make_vector_prompts(path, _map_boxes(BOXES_PX), crs=None)


# ------------------------------------------------------------------------------------------- outputs made
def _segment_box(ws: Workspace, path: Path, prompts: str, **options: object) -> None:
    from rossam_geo.api import Segmenter

    Segmenter("box").segment_to_file(ws.path("scene.tif"), ws.path(prompts), path, **options)


@builds("made.gpkg")
def _made(ws: Workspace, path: Path) -> None:
    _segment_box(ws, path, "boxes.geojson")


@builds("interrupted.gpkg")
def _interrupted(ws: Workspace, path: Path) -> None:
    """The output of a run of the box engine killed before its last feature was written."""
    from rossam_geo.io import delete_features, read_layer_table

    _segment_box(ws, path, "boxes.geojson")
    table = read_layer_table(path, "objects", ["prompt_id"])
    assert table is not None
    delete_features(path, "objects", [int(table.index.max())])


@builds("corrupt.gpkg")
def _corrupt(ws: Workspace, path: Path) -> None:
    _truncated(ws.path("made.gpkg"), path, 0.5)


@builds("not_sqlite.gpkg")
def _not_sqlite(ws: Workspace, path: Path) -> None:
    path.write_text("this is not a GeoPackage\n" * 200)


# ------------------------------------------------------------------------------------------ more weights
@builds("overflow.safetensors")
def _overflow_weights(ws: Workspace, path: Path) -> None:
    path.write_bytes(_tiny_export_bytes("overflow"))


@builds("empty.safetensors")
def _empty_weights(ws: Workspace, path: Path) -> None:
    path.write_bytes(b"")


@builds("text.safetensors")
def _text_weights(ws: Workspace, path: Path) -> None:
    path.write_text("these are not weights\n")


# -------------------------------------------------------------------------------------- frames and configs
@builds("frames")
def _frames(ws: Workspace, path: Path) -> None:
    path.mkdir()
    for number in (1, 2):
        make_geotiff(path / f"f{number}.tif", width=64, height=48)


@builds("bad.toml")
def _bad_toml(ws: Workspace, path: Path) -> None:
    path.write_text("epochs = [1,\n")


@builds("clip.avi")
def _clip(ws: Workspace, path: Path) -> None:
    """Two frames of a real (Motion JPEG) video."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 48))
    for value in (60, 120):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()


@builds("binary_annotations.txt")
def _binary_annotations(ws: Workspace, path: Path) -> None:
    path.write_bytes(np.random.default_rng(3).integers(128, 256, 500, dtype=np.uint8).tobytes())
