"""The ROS-SAM network: SAM's image encoder with LoRA, its prompt encoder, SAM's decoder and an HQ decoder."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from segment_anything.modeling import MaskDecoder, PromptEncoder
from torch import nn

from rossam_geo.errors import InputError
from rossam_geo.model.config import PIXEL_MEAN_RGB, PIXEL_STD_RGB, RosSamConfig
from rossam_geo.model.hq_decoder import HQMaskDecoder
from rossam_geo.model.image_encoder import RosSamImageEncoder
from rossam_geo.model.lora import LoRAQKVLinear, is_lora_parameter_name, lora_layers
from rossam_geo.model.point_prompts import check_points, groups_by_point_count
from rossam_geo.model.sam_decoder import decode_paired
from rossam_geo.model.score_quality import ScoreCalibration

PredictMode = Literal["hq", "sam", "sam+hq"]
PREDICT_MODES: tuple[str, ...] = ("hq", "sam", "sam+hq")
DecoderChoice = Literal["both", "sam", "hq"]

#: Names of the trainable parameter groups, see :meth:`RosSam.named_parameter_groups`.
PARAMETER_GROUPS: tuple[str, ...] = ("lora", "last_block", "sam_decoder", "hq_decoder")


def upsample_logits(logits_low: torch.Tensor, size_px: int) -> torch.Tensor:
    """(B, 1, s, s) decoder logits -> (B, 1, S, S) float32 logits at the S px model input (bilinear,
    half-pixel centres): the resolution inference thresholds and measures masks at."""
    return F.interpolate(logits_low.float(), (size_px, size_px), mode="bilinear", align_corners=False)


class RosSam(nn.Module):
    """ROS-SAM: box-prompted segmentation with a LoRA-adapted SAM and two mask decoders.

    State-dict layout: ``image_encoder.*``, ``prompt_encoder.*`` and ``mask_decoder.*`` are exactly the keys
    of an official SAM checkpoint; ``image_encoder.blocks.{i}.attn.qkv.lora_{a,b}_{q,v}.weight`` are the LoRA
    factors; ``hq_decoder.*`` holds a full HQ decoder with the key structure of HQ-SAM's ``mask_decoder.*``.

    Attributes:
        config: the network sizes.
        lora_rank: LoRA rank (0: no LoRA layers).
        lora_alpha: LoRA scale numerator.
    """

    pixel_mean: torch.Tensor
    pixel_std: torch.Tensor

    def __init__(
        self,
        *,
        config: RosSamConfig,
        image_encoder: RosSamImageEncoder,
        prompt_encoder: PromptEncoder,
        mask_decoder: MaskDecoder,
        hq_decoder: HQMaskDecoder,
        lora_rank: int,
        lora_alpha: float,
        pixel_mean_rgb: Sequence[float] = PIXEL_MEAN_RGB,
        pixel_std_rgb: Sequence[float] = PIXEL_STD_RGB,
    ) -> None:
        """Assemble the network from its parts; use :func:`rossam_geo.model.build_rossam` to build one."""
        super().__init__()
        self.config = config
        self.lora_rank = lora_rank
        self.lora_alpha = float(lora_alpha)
        self.image_encoder = image_encoder
        self.prompt_encoder = prompt_encoder
        self.mask_decoder = mask_decoder
        self.hq_decoder = hq_decoder
        self.register_buffer(
            "pixel_mean", torch.tensor(list(pixel_mean_rgb)).view(-1, 1, 1), persistent=False
        )
        self.register_buffer("pixel_std", torch.tensor(list(pixel_std_rgb)).view(-1, 1, 1), persistent=False)
        #: maps the quality features of a mask to its reported score; set by the loaders from the weights'
        #: metadata (None: the IoU head's output is the score).
        self.score_calibration: ScoreCalibration | None = None

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters."""
        return self.pixel_mean.device

    @property
    def image_size_px(self) -> int:
        """Side of the square model input in pixels."""
        return self.config.image_size_px

    # ----------------------------------------------------------------------------------------------- LoRA
    def lora_layers(self) -> list[LoRAQKVLinear]:
        """The encoder's LoRA-wrapped qkv projections, in block order (empty when rank is 0)."""
        return lora_layers(self.image_encoder)

    @property
    def lora_merged(self) -> bool:
        """True while the LoRA updates are folded into the base weights."""
        return any(layer.merged for layer in self.lora_layers())

    def merge_lora(self) -> None:
        """Fold LoRA into the qkv weights for faster inference (outputs equal within float rounding)."""
        for layer in self.lora_layers():
            layer.merge()

    def unmerge_lora(self) -> None:
        """Undo :meth:`merge_lora`."""
        for layer in self.lora_layers():
            layer.unmerge()

    # ------------------------------------------------------------------------------------------- training
    @property
    def gradient_checkpointing(self) -> bool:
        """Whether encoder blocks are recomputed in the backward pass (saves memory in training)."""
        return self.image_encoder.gradient_checkpointing

    @gradient_checkpointing.setter
    def gradient_checkpointing(self, enabled: bool) -> None:
        self.image_encoder.gradient_checkpointing = enabled

    def named_parameter_groups(self) -> dict[str, dict[str, nn.Parameter]]:
        """The trainable parameters by group, with their full names.

        Groups (disjoint): ``lora`` (all LoRA factors, the last block's included), ``last_block`` (the other
        parameters of the last encoder block: 11 / 23 / 31 for vit_b / l / h), ``sam_decoder``
        (``mask_decoder.*``) and ``hq_decoder`` (``hq_decoder.*``).
        """
        last_prefix = f"image_encoder.blocks.{self.config.last_block_index}."
        groups: dict[str, dict[str, nn.Parameter]] = {name: {} for name in PARAMETER_GROUPS}
        for name, param in self.named_parameters():
            if is_lora_parameter_name(name):
                groups["lora"][name] = param
            elif name.startswith(last_prefix):
                groups["last_block"][name] = param
            elif name.startswith("mask_decoder."):
                groups["sam_decoder"][name] = param
            elif name.startswith("hq_decoder."):
                groups["hq_decoder"][name] = param
        return groups

    def trainable_parameters(self) -> list[nn.Parameter]:
        """All parameters of the four trainable groups (everything else stays frozen)."""
        return [p for group in self.named_parameter_groups().values() for p in group.values()]

    def freeze_for_training(self) -> None:
        """Freeze everything but LoRA, the last encoder block and both decoders; unmerge LoRA first."""
        self.unmerge_lora()
        self.requires_grad_(False)
        for param in self.trainable_parameters():
            param.requires_grad_(True)

    # -------------------------------------------------------------------------------------------- forward
    def preprocess(self, images_rgb: torch.Tensor) -> torch.Tensor:
        """Normalise (B, 3, S, S) RGB images on the 0-255 scale (uint8 or float) with SAM's mean and std.

        Raises:
            InputError: wrong shape.
        """
        size = self.image_size_px
        if images_rgb.ndim != 4 or tuple(images_rgb.shape[1:]) != (3, size, size):
            raise InputError(
                f"expected images of shape (B, 3, {size}, {size}), got {tuple(images_rgb.shape)}; "
                f"resize or pad them to the model's {size} px input first"
            )
        images = images_rgb.to(device=self.device, dtype=self.pixel_mean.dtype)
        return (images - self.pixel_mean) / self.pixel_std

    def _check_boxes(self, boxes_px_xyxy: torch.Tensor) -> torch.Tensor:
        if boxes_px_xyxy.ndim != 2 or boxes_px_xyxy.shape[1] != 4:
            raise InputError(f"expected boxes of shape (N, 4) XYXY, got {tuple(boxes_px_xyxy.shape)}")
        boxes = boxes_px_xyxy.to(device=self.device, dtype=torch.float32)
        if not torch.isfinite(boxes).all():
            raise InputError(f"boxes must be finite, got {boxes.tolist()}")
        return boxes

    def forward_train(
        self,
        images_rgb: torch.Tensor,
        boxes_px_xyxy: Sequence[torch.Tensor],
        decoders: DecoderChoice = "both",
    ) -> dict[str, torch.Tensor]:
        """Differentiable forward pass for training, all objects of each image at once.

        Args:
            images_rgb: (B, 3, S, S) RGB on the 0-255 scale, uint8 or float, NOT normalised (the model
                subtracts ``pixel_mean`` and divides by ``pixel_std``); padding should be 0 after that,
                i.e. the mean colour, as SAM pads.
            boxes_px_xyxy: B tensors of shape (N_i, 4), XYXY in model-input pixels.
            decoders: which decoders to run: ``"both"``, ``"sam"`` or ``"hq"``.

        Returns:
            A dict with, for the M = sum N_i objects in image order, ``image_index`` (M,) int64, and per run
            decoder ``sam_mask_logits`` / ``hq_mask_logits`` (M, 1, S/4, S/4) and ``sam_iou_pred`` /
            ``hq_iou_pred`` (M, 1) (the HQ decoder's IoU head, on its own SAM token).

        Raises:
            InputError: wrong shapes or a box list of another length than the batch.
        """
        if decoders not in ("both", "sam", "hq"):
            raise InputError(f"decoders must be 'both', 'sam' or 'hq', got {decoders!r}")
        images = self.preprocess(images_rgb)
        if len(boxes_px_xyxy) != images.shape[0]:
            raise InputError(
                f"got {images.shape[0]} images but {len(boxes_px_xyxy)} box tensors; give one per image"
            )
        embeddings, interm = self.image_encoder(images)
        image_pe = self.prompt_encoder.get_dense_pe()
        run_sam, run_hq = decoders in ("both", "sam"), decoders in ("both", "hq")
        parts: dict[str, list[torch.Tensor]] = (
            {k: [] for k in ("sam_mask_logits", "sam_iou_pred")} if run_sam else {}
        )
        if run_hq:
            parts.update({"hq_mask_logits": [], "hq_iou_pred": []})
        index: list[torch.Tensor] = []
        for i, boxes_i in enumerate(boxes_px_xyxy):
            boxes = self._check_boxes(torch.as_tensor(boxes_i))
            if boxes.shape[0] == 0:
                continue
            index.append(torch.full((boxes.shape[0],), i, dtype=torch.int64, device=self.device))
            sparse, dense = self.prompt_encoder(points=None, boxes=boxes, masks=None)
            if run_sam:
                masks, iou = self._sam_decode(embeddings[i : i + 1], image_pe, sparse, dense)
                parts["sam_mask_logits"].append(masks)
                parts["sam_iou_pred"].append(iou)
            if run_hq:
                out = self.hq_decoder(embeddings[i : i + 1], image_pe, sparse, dense, interm[i : i + 1])
                parts["hq_mask_logits"].append(out.hq_mask_logits)
                parts["hq_iou_pred"].append(out.iou_pred)
        low = self.config.low_res_mask_size_px
        result: dict[str, torch.Tensor] = {}
        for key, values in parts.items():
            if values:
                result[key] = torch.cat(values)
            else:  # no boxes at all
                result[key] = embeddings.new_zeros((0, 1, low, low) if "mask" in key else (0, 1))
        result["image_index"] = (
            torch.cat(index) if index else torch.zeros(0, dtype=torch.int64, device=self.device)
        )
        return result

    def _sam_decode(
        self, embedding: torch.Tensor, image_pe: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """SAM's decoder, single-mask output, for N prompts of one image: (N, 1, h, w) logits, (N, 1) IoU."""
        masks, iou = self.mask_decoder(
            image_embeddings=embedding,
            image_pe=image_pe,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        return masks, iou

    def forward(
        self,
        images_rgb: torch.Tensor,
        boxes_px_xyxy: Sequence[torch.Tensor],
        decoders: DecoderChoice = "both",
    ) -> dict[str, torch.Tensor]:
        """Same as :meth:`forward_train` (so that wrappers such as DDP call it)."""
        return self.forward_train(images_rgb, boxes_px_xyxy, decoders)

    @torch.inference_mode()
    def predict(
        self,
        images_rgb_u8: np.ndarray | torch.Tensor,
        boxes_px_xyxy: np.ndarray | torch.Tensor,
        mode: PredictMode = "hq",
        points_px_xy: np.ndarray | torch.Tensor | None = None,
        point_labels: np.ndarray | torch.Tensor | None = None,
        runners: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Segment one object per image (inference).

        Args:
            images_rgb_u8: (B, S, S, 3) uint8 RGB, S = :attr:`image_size_px`.
            boxes_px_xyxy: (B, 4) XYXY boxes in model-input pixels, one per image.
            mode: ``"hq"`` the HQ decoder's HQ token; ``"sam"`` SAM's decoder alone (a fresh ROS-SAM then
                equals SAM); ``"sam+hq"`` SAM-decoder logits plus HQ-token logits (unlike HQ-SAM's
                ``hq_token_only=False``, whose SAM-token mask comes from the HQ decoder's own pass).
            points_px_xy: optional (B, K, 2) XY clicks in model-input pixels (the frame of the boxes),
                given to SAM's prompt encoder with the box; point_labels: (B, K), 1 object, 0 background,
                -1 padding (see :mod:`rossam_geo.model.point_prompts`).

        Returns:
            ``(mask_logits, scores)``: (B, S, S) float32 logits at input resolution (object where > 0)
            and (B,) float32 predicted IoU (of SAM's decoder for ``"sam"`` and ``"sam+hq"``, of the HQ
            decoder's SAM token for ``"hq"``).

        Raises:
            InputError: unknown mode, wrong shapes, or a different number of boxes than images.
        """
        if mode not in PREDICT_MODES:
            raise InputError(f"unknown mode {mode!r}; choose one of: {', '.join(PREDICT_MODES)}")
        images = torch.as_tensor(images_rgb_u8)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise InputError(f"expected (B, S, S, 3) RGB images, got shape {tuple(images.shape)}")
        boxes = self._check_boxes(torch.as_tensor(boxes_px_xyxy))
        if boxes.shape[0] != images.shape[0]:
            raise InputError(
                f"got {images.shape[0]} images but {boxes.shape[0]} boxes; give one box per image"
            )
        embeddings, interm = self.encode(images.permute(0, 3, 1, 2), runners)
        logits_low, scores = self.decode_boxes(embeddings, interm, boxes, mode, points_px_xy, point_labels)
        return upsample_logits(logits_low, self.image_size_px)[:, 0], scores

    def encode(
        self,
        images_rgb: torch.Tensor,
        runners: Sequence[Callable[[torch.Tensor], torch.Tensor]] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the image encoder on (B, 3, S, S) RGB images on the 0-255 scale.

        ``runners`` optionally run the encoder blocks (compiled versions, see
        :func:`rossam_geo.model.fast.compiled_blocks`).

        An encoder converted to bfloat16 (:func:`rossam_geo.model.fast.configure_for_inference` with
        ``precision="bf16-true"``) runs outside autocast, so that its residual stream, layer norms and
        activations stay in bf16; its outputs come back in the decoders' dtype.

        Returns:
            ``(image_embeddings, interm_embeddings)``, see :class:`RosSamImageEncoder`.
        """
        images = self.preprocess(images_rgb)
        encoder_dtype = self.image_encoder.patch_embed.proj.weight.dtype
        if encoder_dtype == images.dtype:
            return self.image_encoder(images, runners)
        with torch.autocast(images.device.type, enabled=False):
            embeddings, interm = self.image_encoder(images.to(encoder_dtype), runners)
        decoder_dtype = self.pixel_mean.dtype
        return embeddings.to(decoder_dtype), interm.to(decoder_dtype)

    def decode_boxes(
        self,
        embeddings: torch.Tensor,
        interm: torch.Tensor,
        boxes: torch.Tensor,
        mode: PredictMode,
        points_px_xy: np.ndarray | torch.Tensor | None = None,
        point_labels: np.ndarray | torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode box i (and its points) on image i for every i.

        Objects without points are decoded in one decoder pass; objects with points in one pass per point
        count, so that padding never changes a mask.

        Args:
            embeddings: (B, C, h, w) image embeddings; interm: (B, h, w, D) early features.
            boxes: (B, 4) XYXY boxes in model-input pixels.
            mode: see :meth:`predict`.
            points_px_xy, point_labels: optional (B, K, 2) points and (B, K) labels, see :meth:`predict`.

        Returns:
            (B, 1, 4h, 4w) low-resolution logits and (B,) float32 predicted IoU.
        """
        if points_px_xy is None or point_labels is None:
            return self._decode(embeddings, interm, boxes, mode, None)
        points, labels = check_points(points_px_xy, point_labels, boxes.shape[0], boxes.device)
        groups = groups_by_point_count(points, labels)
        if len(groups) == 1:  # one point count (or no boxes): the whole batch in one pass
            return self._decode(embeddings, interm, boxes, mode, groups[0][1] if groups else None)
        parts = [
            (rows, *self._decode(embeddings[rows], interm[rows], boxes[rows], mode, p)) for rows, p in groups
        ]
        logits = parts[0][1].new_zeros((boxes.shape[0], *parts[0][1].shape[1:]))
        scores = parts[0][2].new_zeros(boxes.shape[0])
        for rows, part_logits, part_scores in parts:
            logits[rows] = part_logits
            scores[rows] = part_scores
        return logits, scores

    def _decode(
        self,
        embeddings: torch.Tensor,
        interm: torch.Tensor,
        boxes: torch.Tensor,
        mode: PredictMode,
        points: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`decode_boxes` for objects with the same number of points (``points`` None: none)."""
        image_pe = self.prompt_encoder.get_dense_pe()
        sparse, dense = self.prompt_encoder(points=points, boxes=boxes, masks=None)
        if mode == "hq":
            out = self.hq_decoder(embeddings, image_pe, sparse, dense, interm)
            return out.hq_mask_logits[:, :1], out.iou_pred[:, 0].float()
        masks, iou = decode_paired(self.mask_decoder, embeddings, image_pe, sparse, dense)
        if mode == "sam+hq":
            masks = masks + self.hq_decoder(embeddings, image_pe, sparse, dense, interm).hq_mask_logits
        return masks, iou[:, 0].float()
