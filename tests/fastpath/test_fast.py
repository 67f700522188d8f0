"""Engine speed options: precision, attention, batch sizing, compile; the fast path agrees with fp32."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rossam_geo.engines import get_engine
from rossam_geo.engines.sam import build_rossam_engine, build_sam_engine
from rossam_geo.errors import InputError
from rossam_geo.model.fast import (
    CropMemory,
    auto_batch_size,
    batch_size_for_memory,
    measure_crop_memory,
    resolve_attention,
    resolve_precision,
)
from rossam_geo.pipeline.run import ArraySource, iter_box_masks
from tests.fastpath.conftest import BLOB_BOXES

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_auto_settings_depend_on_the_device():
    assert resolve_precision("auto", CPU) == "fp32" and resolve_precision("auto", CUDA) == "bf16"
    assert resolve_precision("bf16", CPU) == "bf16" and resolve_precision("fp32", CUDA) == "fp32"
    assert resolve_attention("auto", CPU) == "reference" and resolve_attention("auto", CUDA) == "sdpa"
    with pytest.raises(InputError, match="unknown precision 'fp16'; choose one of: auto, fp32, bf16"):
        resolve_precision("fp16", CPU)
    with pytest.raises(InputError, match="unknown attention 'xformers'; choose one of: auto, reference"):
        resolve_attention("xformers", CPU)


def test_batch_size_from_free_memory():
    gib = 1024**3
    memory = CropMemory(fixed_bytes=2 * gib, per_crop_bytes=3 * gib)
    # 0.8 * 80 GiB = 64 GiB; minus 2 GiB fixed = 62 GiB; 62 // 3 = 20 crops
    assert batch_size_for_memory(80 * gib, memory) == 20
    assert batch_size_for_memory(1 * gib, memory) == 1  # never below one
    assert batch_size_for_memory(10_000 * gib, memory, max_batch=64) == 64


def test_auto_batch_is_one_on_the_cpu(tiny_rossam):
    assert auto_batch_size(tiny_rossam, "hq", "fp32") == 1
    with pytest.raises(InputError, match="measured on CUDA devices only; the model is on cpu"):
        measure_crop_memory(tiny_rossam, "hq", "bf16")
    engine = build_rossam_engine(model=tiny_rossam, device="cpu", batch_size="auto")
    assert engine.max_batch == 1


def test_options_reach_the_engine_and_bad_ones_are_refused(tiny_sam_file):
    engine = get_engine(
        "sam", weights=tiny_sam_file, device="cpu", precision="bf16", attention="sdpa", prefetch=3
    )
    assert (engine.precision, engine.attention, engine.prefetch_batches) == ("bf16", "sdpa", 3)
    assert type(engine.model.image_encoder.blocks[0].attn).__name__ == "SdpaAttention"
    plain = build_sam_engine(weights=tiny_sam_file, device="cpu")
    assert (plain.precision, plain.attention, plain.max_batch) == ("fp32", "reference", 1)
    with pytest.raises(
        InputError, match=r"unknown engine options \['turbo'\]; inference options are: precision"
    ):
        build_sam_engine(weights=tiny_sam_file, device="cpu", turbo=True)
    with pytest.raises(InputError, match="prefetch must be >= 0 batches, got -1"):
        build_sam_engine(weights=tiny_sam_file, device="cpu", prefetch=-1)
    with pytest.raises(InputError, match="batch_size must be >= 1, got 0; or 'auto'"):
        build_sam_engine(weights=tiny_sam_file, device="cpu", batch_size=0)


def _masks(engine, image):
    return list(iter_box_masks(ArraySource(image), BLOB_BOXES, engine, crop_size=48))


@pytest.mark.parametrize("mode", ["hq", "sam"])
def test_fast_path_agrees_with_fp32(tiny_rossam, blob_image, mode):
    import copy

    reference = build_rossam_engine(
        model=copy.deepcopy(tiny_rossam), device="cpu", mode=mode, precision="fp32", attention="reference"
    )
    fast = build_rossam_engine(
        model=tiny_rossam, device="cpu", mode=mode, precision="bf16", attention="sdpa", batch_size=3
    )
    assert fast.model.lora_merged
    # logits over whole model inputs, 3 boxes in one batch vs one by one
    images = np.stack([np.asarray(np.resize(blob_image, (128, 128, 3)))] * 3)
    boxes = np.array([[10, 10, 60, 50], [40, 60, 90, 120], [0, 0, 127, 127]], np.float64)
    ref_pred, fast_pred = reference.predict(images, boxes), fast.predict(images, boxes)
    ref_logits, fast_logits = ref_pred.mask_logits, fast_pred.mask_logits
    rel_err = np.linalg.norm(fast_logits - ref_logits) / np.linalg.norm(ref_logits)
    assert rel_err < 0.05, rel_err  # bf16 keeps ~3 significant digits per op
    assert np.abs(fast_pred.scores - ref_pred.scores).max() < 0.05
    agreement = ((fast_logits > 0) == (ref_logits > 0)).mean()
    assert agreement >= 0.99, agreement
    # and through the pipeline: same statuses, masks agree on >= 99 % of the window pixels
    ref_out, fast_out = _masks(reference, blob_image), _masks(fast, blob_image)
    assert [o.status for o in fast_out] == [o.status for o in ref_out]
    assert ref_out[3].status == "skipped"
    for a, b in zip(ref_out, fast_out, strict=True):
        if a.mask is not None and b.mask is not None:
            assert (a.mask == b.mask).mean() >= 0.99


def test_sdpa_fp32_engine_equals_reference_engine(tiny_rossam, blob_image):
    import copy

    reference = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", attention="reference")
    fused = build_rossam_engine(model=tiny_rossam, device="cpu", attention="sdpa")
    images = np.stack([np.asarray(np.resize(blob_image, (128, 128, 3)))] * 2)
    boxes = np.array([[10, 10, 60, 50], [40, 60, 90, 120]], np.float64)
    a, b = reference.predict(images, boxes), fused.predict(images, boxes)
    assert np.abs(a.mask_logits - b.mask_logits).max() <= 1e-4 * max(1.0, np.abs(a.mask_logits).max())
    assert np.allclose(a.scores, b.scores, atol=1e-5)


def test_compile_option_wraps_the_encoder(tiny_rossam):
    engine = build_rossam_engine(model=tiny_rossam, device="cpu", compile=True)
    assert engine.model.image_encoder._compiled_call_impl is not None  # compiled on first forward
    assert engine.model.mask_decoder._compiled_call_impl is None


@pytest.mark.slow  # the first compiled forward takes about a minute on two CPU cores
def test_compiled_encoder_gives_the_same_masks(tiny_rossam, blob_image):
    import copy

    reference = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu")
    compiled = build_rossam_engine(model=tiny_rossam, device="cpu", compile=True, attention="sdpa")
    assert list(compiled.model.state_dict()) == list(reference.model.state_dict())
    images = np.asarray(np.resize(blob_image, (1, 128, 128, 3)))
    boxes = np.array([[10, 10, 60, 50]], np.float64)
    expected = reference.predict(images, boxes).mask_logits
    actual = compiled.predict(images, boxes).mask_logits
    assert np.abs(actual - expected).max() <= 1e-3 * max(1.0, np.abs(expected).max())
