"""An endless stream of training crops cut from scenes generated on the fly, for DataLoader workers.

Each worker process generates its own scenes and cuts several inference-like crops from each
(:class:`~rossam_geo.synth.recipe.BoxCentredCrop`), mixing them in a shuffle buffer so that one batch holds
crops of many scenes. Everything is seeded: worker ``w`` of a run with seed ``s`` generates scene ``k`` from
``(s, w, k, STREAM_TAG)``, so the stream of each worker is reproducible and no two workers (and no
validation scene, seeded with two numbers) share a scene.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from rossam_geo.synth.recipe import BoxCentredCrop
from rossam_geo.synth.scene import generate_scene

#: Objects whose box centres lie within this many pixels (or 1.5 box lengths) of a crop's anchor object
#: take part in the crop (the crop is centred on one of them, the others may be prompted too).
NEIGHBOURHOOD_PX = 64.0
#: Last word of every stream seed (keeps stream scenes apart from scenes seeded with fewer numbers).
STREAM_TAG = 0x5CE4E


@dataclass(frozen=True)
class StreamSettings:
    """What the stream generates.

    Attributes:
        seed: run seed.
        input_size_px: model input side (crops are cut for it).
        scene_size_px: side of the generated scenes.
        generator: scene generator (:data:`rossam_geo.synth.scene.GENERATORS`).
        crops_per_scene: crops cut from each scene (each centred on a random object).
        shuffle_buffer: crops held per worker and drawn at random.
        box_noise: prompt-box corner noise as a fraction of box size.
        upsample_range: sampling-rate range of the crops (inference uses 2).
        background_rasters: permissive rasters whose crops may serve as backgrounds (may be empty).
        background_boxes: prompts per crop over background, with an empty target (they teach the IoU head
            to score a box without an object low; see :class:`rossam_geo.synth.recipe.BoxCentredCrop`).
    """

    seed: int = 0
    input_size_px: int = 128
    scene_size_px: int = 256
    generator: str = "v4"
    crops_per_scene: int = 8
    shuffle_buffer: int = 256
    box_noise: float = 0.03
    upsample_range: tuple[float, float] = (1.4, 2.8)
    background_rasters: tuple[str, ...] = ()
    background_boxes: int = 0


class SceneCropStream(IterableDataset):  # type: ignore[type-arg]
    """Endless crops of generated scenes; in a DataLoader, every worker runs its own seeded stream.

    Crops and batches (:func:`collate_crops`) are numpy arrays, so they reach the trainer through the
    DataLoader's pipes rather than shared memory (container ``/dev/shm`` is often a few tens of MB).
    """

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        self.crop = BoxCentredCrop(
            settings.input_size_px,
            upsample_range=settings.upsample_range,
            box_noise=settings.box_noise,
            background_boxes=settings.background_boxes,
        )

    def scene_crops(self, worker: int, index: int) -> list[dict[str, Any]]:
        """The crops of scene ``index`` of ``worker`` (none when no object fitted in the scene).

        Returns:
            Crops as numpy arrays: ``image`` (S, S, 3) uint8, ``masks`` (N, S, S) bool, ``prompt_boxes``
            (N, 4) float32 XYXY model-input pixels, ``classes`` (N names).
        """
        s = self.settings
        scene = generate_scene(
            (s.seed, worker, index, STREAM_TAG),
            size_px=s.scene_size_px,
            background_rasters=s.background_rasters,
            generator=s.generator,
        )
        if not scene.classes:
            return []
        boxes = scene.boxes_px_xyxy
        centres = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        image_id = f"{s.seed}-{worker}-{index}"
        crops = []
        for j in range(s.crops_per_scene):
            rng = np.random.default_rng((s.seed, worker, index, j, STREAM_TAG))
            # Only objects near a random anchor go to the crop: a crop's window holds a few of the scene's
            # objects, and cutting every mask of a dense scene would cost more than the scene itself.
            anchor = int(rng.integers(len(boxes)))
            reach = max(NEIGHBOURHOOD_PX, 1.5 * float((boxes[anchor, 2:] - boxes[anchor, :2]).max()))
            near = np.flatnonzero((np.abs(centres - centres[anchor]) <= reach).all(axis=1))
            sample = {
                "image": scene.image_rgb,
                "masks": scene.masks[near],
                "boxes": boxes[near],
                "classes": [scene.classes[i] for i in near],
                "image_id": image_id,
            }
            out = self.crop(sample, rng)  # type: ignore[arg-type]
            if len(out["classes"]) > 0:
                crops.append(
                    {
                        "image": np.ascontiguousarray(out["image"]),
                        "masks": np.ascontiguousarray(out["masks"]),
                        "prompt_boxes": out["prompt_boxes"].astype(np.float32),
                        "classes": list(out["classes"]),
                    }
                )
        return crops

    def __iter__(self) -> Iterator[dict[str, Any]]:
        import cv2

        cv2.setNumThreads(1)
        info = get_worker_info()
        worker = 0 if info is None else info.id
        rng = np.random.default_rng((self.settings.seed, worker, STREAM_TAG))
        buffer: list[dict[str, Any]] = []
        index = 0
        while True:
            while len(buffer) < self.settings.shuffle_buffer:
                buffer.extend(self.scene_crops(worker, index))
                index += 1
            pick = int(rng.integers(len(buffer)))
            buffer[pick], buffer[-1] = buffer[-1], buffer[pick]
            yield buffer.pop()


def collate_crops(crops: list[dict[str, Any]]) -> dict[str, Any]:
    """Batch crops of :meth:`SceneCropStream.scene_crops`, the prompts of all crops in one stack.

    Returns:
        ``images`` (B, S, S, 3) uint8, ``masks`` (M, S, S) bool, ``prompt_boxes`` (M, 4) float32 and
        ``image_index`` (M,) int64 (the crop of each prompt) arrays; ``classes``: M names.
    """
    counts = [len(c["classes"]) for c in crops]
    return {
        "images": np.stack([c["image"] for c in crops]),
        "masks": np.concatenate([c["masks"] for c in crops]),
        "prompt_boxes": np.concatenate([c["prompt_boxes"] for c in crops]),
        "image_index": np.repeat(np.arange(len(crops), dtype=np.int64), counts),
        "classes": [name for c in crops for name in c["classes"]],
    }


def worker_ignores_stop_signals(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: workers ignore SIGTERM and SIGINT, which a shell or a time limit may
    send to the whole process group; the trainer stops them when it has saved its work."""
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
