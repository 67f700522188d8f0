"""The engine around a SAM-family network: batching, precision, compilation, test-time augmentation, and
resampling on the device.

Inference runs under ``torch.inference_mode()``. Speed options (see :mod:`rossam_geo.model.fast` and
``docs/performance.md``): ``precision``, ``attention``, ``compile``, ``batch_size``, ``prefetch`` and
``device_resample``. The factories that load weights into it are in :mod:`rossam_geo.engines.sam`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.engines.base import EnginePrediction, WindowPrediction, check_point_arrays
from rossam_geo.engines.device import resolve_device
from rossam_geo.engines.tta import augment, augment_points, merge, symmetries, unaugment
from rossam_geo.errors import InputError
from rossam_geo.model.score_quality import FEATURE_NAMES, quality_features

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.rossam import RosSam
    from rossam_geo.model.score_quality import ScoreCalibration

#: Objects per predict call when no batch size is given, by device type (CUDA: from free memory).
DEFAULT_MAX_BATCH: dict[str, int] = {"cuda": 8, "mps": 2, "cpu": 1}
#: Batches whose windows the segment pipeline reads ahead on a CPU thread, by default.
DEFAULT_PREFETCH_BATCHES = 2


class SamFamilyEngine:
    """An :class:`~rossam_geo.engines.base.Engine` around a :class:`~rossam_geo.model.RosSam` network.

    Attributes:
        name: engine name (``"rossam"``, ``"sam"``, ``"hq-sam"``).
        model_name: weights behind it, recorded in every output feature.
        input_size_px: the network's input side (1024 for official sizes).
        max_batch: objects per forward pass.
        mode: the network's predict mode (``"hq"``, ``"sam"``, ``"sam+hq"``).
        model: the network, in eval mode on :attr:`device`.
        device: where it runs.
        precision: ``"fp32"``, ``"bf16-mixed"`` (autocast) or ``"bf16-true"`` (bf16 encoder weights).
        attention: the encoder's attention kernel, ``"reference"``, ``"sdpa"`` or ``"folded"``.
        compiled: whether compiled encoder blocks run the passes of at least half a batch (padded to a full
            batch, so that one shape compiles); smaller passes run eagerly.
        prefetch_batches: batches the segment pipeline prepares ahead on a CPU thread (0: none).
        takes_windows: whether the pipeline should call :meth:`predict_windows` with raster windows (the
            resampling then runs on the device) instead of :meth:`predict` with model inputs.
        score_calibration: the weights' map from mask quality features to the reported score, when they
            carry one for this tta mode (:mod:`rossam_geo.model.score_quality`); None: the score is the IoU
            head's output, clamped to [0, 1].
    """

    def __init__(
        self,
        *,
        name: str,
        model: RosSam,
        mode: str,
        model_name: str,
        device: str = "auto",
        batch_size: int | str | None = None,
        precision: str = "auto",
        attention: str = "auto",
        compile: bool | str = "auto",
        prefetch: int = DEFAULT_PREFETCH_BATCHES,
        tta: str = "none",
        device_resample: bool | str = "auto",
    ) -> None:
        """Wrap ``model``; it is moved to ``device`` and put in eval mode.

        Args:
            name, model, mode, model_name: see the attributes.
            device: ``"auto"``, ``"cpu"``, ``"cuda"`` (``"cuda:N"``) or ``"mps"``.
            batch_size: objects per forward pass; ``"auto"``: as many as fit in the free CUDA memory (1 on
                other devices); None: ``"auto"`` on CUDA, :data:`DEFAULT_MAX_BATCH` elsewhere.
            precision: ``"auto"`` (bf16-mixed on CUDA, fp32 elsewhere), ``"fp32"``, ``"bf16"`` /
                ``"bf16-mixed"`` (autocast) or ``"bf16-true"`` (see :mod:`rossam_geo.model.fast`).
            attention: ``"auto"`` (folded on CUDA, reference elsewhere), ``"reference"``, ``"sdpa"`` or
                ``"folded"``.
            compile: run passes of at least half a batch through ``torch.compile`` versions of the encoder
                blocks; ``"auto"``: on CUDA when batches hold more than one object. The first such pass
                compiles (see docs/performance.md); smaller passes, such as one box drawn in QGIS, run
                eagerly and never wait for a compilation.
            prefetch: batches read ahead by the segment pipeline (0: read in the main thread).
            tta: test-time augmentation, ``"none"``, ``"flips"`` (4 passes) or ``"d8"`` (8 passes): the
                logits of the flipped / transposed inputs are mapped back and averaged
                (:mod:`rossam_geo.engines.tta`); the variants of an object share one forward pass.
            device_resample: resample windows and logits on the device (:meth:`predict_windows`);
                ``"auto"``: on CUDA without test-time augmentation.

        Raises:
            InputError: a batch size below 1, an unknown precision, attention or tta, a negative prefetch.
            EngineError: unavailable device.
        """
        from rossam_geo.model.fast import (
            auto_batch_size,
            compiled_blocks,
            configure_for_inference,
            resolve_attention,
            resolve_precision,
        )
        from rossam_geo.model.rossam import PREDICT_MODES

        if mode not in PREDICT_MODES:
            raise InputError(
                f"unknown mode {mode!r} for the {name} engine; choose one of: {', '.join(PREDICT_MODES)}"
            )
        if batch_size != "auto" and batch_size is not None and int(batch_size) < 1:
            raise InputError(
                f"batch_size must be >= 1, got {batch_size}; or 'auto' to fit the free CUDA memory"
            )
        if int(prefetch) < 0:
            raise InputError(f"prefetch must be >= 0 batches, got {prefetch}")
        for option, value in (("compile", compile), ("device_resample", device_resample)):
            if value not in (True, False, "auto"):
                raise InputError(f"{option} must be true, false or 'auto', got {value!r}")
        self.device = resolve_device(device)
        self.name = name
        self.mode = mode
        self.model_name = model_name
        self.precision = resolve_precision(precision, self.device)
        self.attention = resolve_attention(attention, self.device)
        self.prefetch_batches = int(prefetch)
        self.tta = tta
        self._symmetries = symmetries(tta)
        self.model = model.to(self.device).eval()
        self.input_size_px: int | None = model.image_size_px
        configure_for_inference(self.model, attention=self.attention, precision=self.precision)
        if batch_size == "auto" or (batch_size is None and self.device.type == "cuda"):
            self.max_batch = auto_batch_size(self.model, self.mode, self.precision)
        else:
            self.max_batch = int(batch_size) if batch_size else DEFAULT_MAX_BATCH.get(self.device.type, 1)
        on_cuda = self.device.type == "cuda"
        self.compiled = bool(compile) if compile != "auto" else on_cuda and self.max_batch > 1
        self._runners = compiled_blocks(self.model) if self.compiled else None
        auto_windows = on_cuda and len(self._symmetries) == 1
        self.takes_windows = bool(device_resample) if device_resample != "auto" else auto_windows
        calibration = model.score_calibration
        self.score_calibration = calibration if calibration is not None and calibration.covers(tta) else None
        if self.takes_windows and len(self._symmetries) > 1:
            raise InputError("device_resample does not combine with test-time augmentation; use tta='none'")

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        from rossam_geo.model.fast import autocast_context

        return autocast_context(self.device, self.precision)

    def _to_device(self, array: np.ndarray) -> torch.Tensor:
        """Host array -> device tensor; on CUDA through pinned memory, without blocking the host."""
        import torch

        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cuda":
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def _pass_inputs(self, per_pass: int, arrays: list[np.ndarray]) -> tuple[list[np.ndarray], Any]:
        """``(arrays, runners)`` of one encoder pass; ``arrays`` are per object: images, boxes and any points
        and labels.

        The compiled blocks run passes of the full batch shape only (one compilation per engine): a pass
        holding at least half a batch is padded to it by repeating its last object; a smaller one (the last
        objects of a run, a single box drawn in QGIS) runs the blocks eagerly rather than compiling a new
        shape or computing a mostly padded batch.
        """
        count = arrays[0].shape[0]
        if self._runners is None or 2 * count < per_pass:
            return arrays, None
        missing = per_pass - count
        if missing > 0:
            arrays = [np.concatenate([a, np.repeat(a[-1:], missing, axis=0)]) for a in arrays]
        return arrays, self._runners

    def _clicks_to_device(self, arrays: list[np.ndarray]) -> dict[str, torch.Tensor]:
        """The network's point arguments from the (points, labels) padded with the images; none without
        clicks (a box alone goes through exactly as before)."""
        if len(arrays) < 4:
            return {}
        return {
            "points_px_xy": self._to_device(arrays[2].astype(np.float32)),
            "point_labels": self._to_device(arrays[3]),
        }

    def _check_boxes(self, boxes_px_xyxy: np.ndarray, count: int) -> np.ndarray:
        boxes = np.asarray(boxes_px_xyxy, dtype=np.float64)
        if boxes.shape != (count, 4):
            raise InputError(f"expected ({count}, 4) boxes, one per image, got {boxes.shape}")
        return boxes

    def predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> EnginePrediction:
        """Segment one object per image; see :meth:`rossam_geo.engines.base.Engine.predict`.

        Args:
            images_rgb_u8: (B, S, S, 3) uint8 RGB, S = :attr:`input_size_px`.
            boxes_px_xyxy: (B, 4) XYXY boxes in model-input pixels.
            points_px_xy, point_labels: optional (B, K, 2) clicks in model-input pixels and (B, K) labels
                (1 object, 0 background, -1 padding), given to the prompt encoder with the box; with
                test-time augmentation they are transformed with the box.

        Returns:
            (B, S, S) float32 mask logits and (B,) float32 scores in [0, 1]: the calibrated predicted IoU
            where the weights carry a calibration for this tta mode (:attr:`score_calibration`), else the
            IoU head's output, clamped.

        Raises:
            InputError: wrong shapes or dtype.
        """
        prediction, _ = self._predict(
            images_rgb_u8, boxes_px_xyxy, points_px_xy, point_labels, self.score_calibration is not None
        )
        return prediction

    def predict_quality(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> tuple[EnginePrediction, np.ndarray]:
        """:meth:`predict`, with the (B, F) quality features of each mask, from which score calibrations
        are fitted (:func:`rossam_geo.model.score_quality.quality_features`)."""
        prediction, features = self._predict(images_rgb_u8, boxes_px_xyxy, points_px_xy, point_labels, True)
        return prediction, np.concatenate(features) if features else np.zeros((0, len(FEATURE_NAMES)))

    def _predict(
        self,
        images_rgb_u8: np.ndarray,
        boxes_px_xyxy: np.ndarray,
        points_px_xy: np.ndarray | None,
        point_labels: np.ndarray | None,
        with_quality: bool,
    ) -> tuple[EnginePrediction, list[np.ndarray]]:
        import torch

        images = np.asarray(images_rgb_u8)
        size = self.input_size_px
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (size, size, 3):
            raise InputError(
                f"the {self.name} engine takes (B, {size}, {size}, 3) uint8 RGB images, got "
                f"{images.dtype} {images.shape}"
            )
        boxes = self._check_boxes(boxes_px_xyxy, images.shape[0])
        clicks = check_point_arrays(points_px_xy, point_labels, images.shape[0])
        logits_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        feature_parts: list[np.ndarray] = []
        variants = self._symmetries
        # Objects per forward pass; with test-time augmentation an object's variants share its pass.
        per_pass = max(1, self.max_batch // len(variants))
        with torch.inference_mode(), self._autocast():
            for start in range(0, images.shape[0], per_pass):
                count = min(per_pass, images.shape[0] - start)
                part = slice(start, start + count)
                arrays = list(augment(images[part], boxes[part], size or 0, variants))
                if clicks is not None:
                    arrays += augment_points(clicks[0][part], clicks[1][part], size or 0, variants)
                arrays, runners = self._pass_inputs(per_pass * len(variants), arrays)
                logits, scores = self.model.predict(
                    self._to_device(arrays[0]),
                    self._to_device(arrays[1].astype(np.float32)),
                    mode=self.mode,  # type: ignore[arg-type]
                    runners=runners,
                    **self._clicks_to_device(arrays),
                )
                kept = count * len(variants)
                # One device-to-host synchronisation per chunk: the scores ride along with the logits.
                side = logits.shape[-1]
                packed = (
                    torch.cat([logits[:kept].float().flatten(1), scores[:kept].float()[:, None]], dim=1)
                    .cpu()
                    .numpy()
                )
                variant_logits = packed[:, :-1].reshape(-1, logits.shape[-2], side)
                chunk_logits, chunk_scores = merge(variant_logits, packed[:, -1], variants)
                if with_quality:
                    features = quality_features(
                        unaugment(variant_logits, variants),
                        packed[:, -1].reshape(len(variants), count),
                        chunk_logits,
                        boxes[part],
                    )
                    feature_parts.append(features)
                    if self.score_calibration is not None:
                        chunk_scores = self.score_calibration.apply(features, self.tta)
                logits_parts.append(chunk_logits)
                score_parts.append(chunk_scores)
        if not logits_parts:
            side = int(size or 0)
            empty = EnginePrediction(np.zeros((0, side, side), np.float32), np.zeros(0, np.float32))
            return empty, feature_parts
        prediction = EnginePrediction(
            mask_logits=np.concatenate(logits_parts).astype(np.float32, copy=False),
            scores=np.clip(np.concatenate(score_parts), 0.0, 1.0).astype(np.float32, copy=False),
        )
        return prediction, feature_parts

    def _calibrated(
        self,
        calibration: ScoreCalibration,
        model_logits: torch.Tensor,
        head: np.ndarray,
        boxes_model: np.ndarray,
    ) -> np.ndarray:
        """Calibrated scores of masks decoded without test-time augmentation, from their (B, 1, S, S) float
        logits at the model input (:func:`rossam_geo.model.rossam.upsample_logits`, as :meth:`RosSam.predict`
        measures them)."""
        merged = model_logits[:, 0].cpu().numpy()
        features = quality_features(merged[None], head[None], merged, boxes_model)
        return calibration.apply(features, self.tta)

    def predict_windows(
        self,
        windows_rgb_u8: np.ndarray,
        boxes_window_px_xyxy: np.ndarray,
        model_hw: tuple[int, int],
        points_px_xy: np.ndarray | None = None,
        point_labels: np.ndarray | None = None,
    ) -> WindowPrediction:
        """Segment one object per raster window, resampling on the device.

        Equivalent to resizing each window to ``model_hw`` (bicubic), padding it to the model input,
        :meth:`predict`, and bringing the logits back to the window (bilinear, > 0), with the resizes done on
        :attr:`device` (:mod:`rossam_geo.engines.device_resample`).

        Args:
            windows_rgb_u8: (B, h, w, 3) uint8 RGB raster windows, all of one shape.
            boxes_window_px_xyxy: (B, 4) XYXY boxes in window pixels.
            model_hw: (rows, cols) of a resized window in the model input, at most (S, S).
            points_px_xy, point_labels: optional (B, K, 2) clicks in window pixels and (B, K) labels, scaled
                to the model input with the boxes.

        Returns:
            (B, h, w) bool masks and (B,) float32 scores in [0, 1], as :meth:`predict` gives them.

        Raises:
            InputError: wrong shapes or dtype, or test-time augmentation is on.
        """
        import torch

        from rossam_geo.engines.device_resample import logits_to_window_masks, windows_to_model_input
        from rossam_geo.model.rossam import upsample_logits

        windows = np.asarray(windows_rgb_u8)
        size = int(self.input_size_px or 0)
        rows, cols = (int(v) for v in model_hw)
        if windows.dtype != np.uint8 or windows.ndim != 4 or windows.shape[-1] != 3:
            raise InputError(f"expected (B, h, w, 3) uint8 RGB windows, got {windows.dtype} {windows.shape}")
        if not (0 < rows <= size and 0 < cols <= size):
            raise InputError(f"model_hw {model_hw} does not fit the {size} px model input")
        if len(self._symmetries) > 1:
            raise InputError("predict_windows runs without test-time augmentation; use predict")
        boxes = self._check_boxes(boxes_window_px_xyxy, windows.shape[0])
        height, width = windows.shape[1:3]
        boxes_model = boxes * np.array([cols / width, rows / height, cols / width, rows / height])
        clicks = check_point_arrays(points_px_xy, point_labels, windows.shape[0])
        masks_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        per_pass = max(1, self.max_batch)
        with torch.inference_mode(), self._autocast():
            for start in range(0, windows.shape[0], per_pass):
                count = min(per_pass, windows.shape[0] - start)
                part = slice(start, start + count)
                arrays = [windows[part], boxes_model[part]]
                if clicks is not None:
                    arrays += [clicks[0][part] * np.array([cols / width, rows / height]), clicks[1][part]]
                arrays, runners = self._pass_inputs(per_pass, arrays)
                images = windows_to_model_input(self._to_device(arrays[0]), (rows, cols), size)
                embeddings, interm = self.model.encode(images, runners)
                low, scores = self.model.decode_boxes(
                    embeddings,
                    interm,
                    self._to_device(arrays[1].astype(np.float32)),
                    self.mode,  # type: ignore[arg-type]
                    **self._clicks_to_device(arrays),
                )
                model_logits = upsample_logits(low[:count], size)
                masks = logits_to_window_masks(model_logits, (rows, cols), (height, width))
                masks_parts.append(masks.cpu().numpy().astype(bool))
                head = scores[:count].float().cpu().numpy()
                if self.score_calibration is not None:
                    head = self._calibrated(self.score_calibration, model_logits, head, arrays[1][:count])
                score_parts.append(head)
        if not masks_parts:
            return WindowPrediction(np.zeros((0, height, width), bool), np.zeros(0, np.float32))
        return WindowPrediction(
            masks=np.concatenate(masks_parts),
            scores=np.clip(np.concatenate(score_parts), 0.0, 1.0).astype(np.float32),
        )
