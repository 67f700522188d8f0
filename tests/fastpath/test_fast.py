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
    assert resolve_precision("auto", CPU) == "fp32" and resolve_precision("auto", CUDA) == "bf16-mixed"
    assert resolve_precision("bf16", CPU) == "bf16-mixed" and resolve_precision("fp32", CUDA) == "fp32"
    assert resolve_precision("bf16-true", CPU) == "bf16-true"
    assert resolve_attention("auto", CPU) == "reference" and resolve_attention("auto", CUDA) == "folded"
    with pytest.raises(InputError, match="unknown precision 'fp16'; choose one of: auto, fp32, bf16"):
        resolve_precision("fp16", CPU)
    with pytest.raises(InputError, match="unknown attention 'xformers'; choose one of: auto, reference"):
        resolve_attention("xformers", CPU)


def test_batch_size_from_free_memory():
    gib = 1024**3
    memory = CropMemory(fixed_bytes=2 * gib, per_crop_bytes=3 * gib)
    # 0.8 * 40 GiB = 32 GiB; minus 2 GiB fixed = 30 GiB; 30 // 3 = 10 crops
    assert batch_size_for_memory(40 * gib, memory) == 10
    assert batch_size_for_memory(30 * gib, memory) == 7  # 0.8 * 30 - 2 = 22 GiB
    assert batch_size_for_memory(1 * gib, memory) == 1  # never below one
    assert batch_size_for_memory(10_000 * gib, memory, max_batch=64, max_bytes=10_000 * gib) == 64
    # the default byte cap: (32 - 2) GiB // 3 GiB = 10 crops however much memory is free
    assert batch_size_for_memory(10_000 * gib, memory) == 10


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
    assert (engine.precision, engine.attention, engine.prefetch_batches) == ("bf16-mixed", "sdpa", 3)
    assert type(engine.model.image_encoder.blocks[0].attn).__name__ == "SdpaAttention"
    plain = build_sam_engine(weights=tiny_sam_file, device="cpu")
    assert (plain.precision, plain.attention, plain.max_batch) == ("fp32", "reference", 1)
    # on the CPU nothing is compiled and windows are resampled on the host unless asked for
    assert (plain.compiled, plain.takes_windows) == (False, False)
    with pytest.raises(InputError, match="compile must be true, false or 'auto', got 'yes'"):
        build_sam_engine(weights=tiny_sam_file, device="cpu", compile="yes")
    with pytest.raises(InputError, match="device_resample does not combine with test-time augmentation"):
        build_sam_engine(weights=tiny_sam_file, device="cpu", device_resample=True, tta="flips")
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


def test_compile_option_adds_compiled_blocks_beside_the_network(tiny_rossam):
    engine = build_rossam_engine(model=tiny_rossam, device="cpu", compile=True)
    assert engine.compiled and len(engine._runners) == len(engine.model.image_encoder.blocks)
    assert all(isinstance(r, torch._dynamo.eval_frame.OptimizedModule) for r in engine._runners)
    # the network itself is not compiled: its state-dict keys are SAM's and eager passes stay possible
    assert all(block._compiled_call_impl is None for block in engine.model.image_encoder.blocks)
    assert not any("_orig_mod" in key for key in engine.model.state_dict())


def test_compiled_blocks_run_passes_of_half_a_batch_or_more_padded_to_a_full_batch(
    tiny_rossam, blob_image, monkeypatch
):
    import copy

    plain = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", batch_size=4)
    padded = build_rossam_engine(model=tiny_rossam, device="cpu", batch_size=4)
    # the routing alone, without paying for a compilation: eager blocks stand in for the compiled ones
    padded._runners = list(padded.model.image_encoder.blocks)
    padded.compiled = True
    calls: list[tuple[int, bool]] = []
    predict = padded.model.predict

    def recording_predict(images, boxes, mode, runners=None):
        calls.append((images.shape[0], runners is not None))
        return predict(images, boxes, mode=mode, runners=runners)

    monkeypatch.setattr(padded.model, "predict", recording_predict)
    images = np.stack([np.asarray(np.resize(blob_image, (128, 128, 3)))] * 7)
    boxes = np.array([[10, 10, 60, 50], [40, 60, 90, 120], [0, 0, 127, 127], [5, 5, 70, 70]] * 2, np.float64)[
        :7
    ]
    expected, actual = plain.predict(images, boxes), padded.predict(images, boxes)
    assert calls == [(4, True), (4, True)]  # 4 objects, then 3 padded to 4: both through the compiled blocks
    assert actual.mask_logits.shape == (7, 128, 128)
    np.testing.assert_allclose(actual.mask_logits, expected.mask_logits, atol=1e-4)
    np.testing.assert_allclose(actual.scores, expected.scores, atol=1e-5)
    calls.clear()
    single = padded.predict(images[:1], boxes[:1])  # one box drawn in QGIS: eager, not a padded batch
    assert calls == [(1, False)]
    np.testing.assert_allclose(single.mask_logits, expected.mask_logits[:1], atol=1e-4)


def test_scores_are_clamped_to_the_unit_interval(tiny_rossam, blob_image, monkeypatch):
    engine = build_rossam_engine(model=tiny_rossam, device="cpu")
    predict = engine.model.predict

    def out_of_range(images, boxes, mode, runners=None):
        logits, scores = predict(images, boxes, mode=mode, runners=runners)
        return logits, torch.tensor([-0.3, 1.7])

    monkeypatch.setattr(engine.model, "predict", out_of_range)
    images = np.stack([np.asarray(np.resize(blob_image, (128, 128, 3)))] * 2)
    boxes = np.array([[10, 10, 60, 50], [40, 60, 90, 120]], np.float64)
    engine.max_batch = 2
    assert engine.predict(images, boxes).scores.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("mode", ["hq", "sam", "sam+hq"])
def test_bf16_true_encoder_agrees_with_fp32(tiny_rossam, blob_image, mode):
    import copy

    reference = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", mode=mode)
    fast = build_rossam_engine(
        model=tiny_rossam, device="cpu", mode=mode, precision="bf16-true", attention="folded", batch_size=3
    )
    encoder = fast.model.image_encoder
    assert {p.dtype for p in encoder.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in fast.model.hq_decoder.parameters()} == {torch.float32}
    images = np.stack([np.asarray(np.resize(blob_image, (128, 128, 3)))] * 3)
    boxes = np.array([[10, 10, 60, 50], [40, 60, 90, 120], [0, 0, 127, 127]], np.float64)
    ref_pred, fast_pred = reference.predict(images, boxes), fast.predict(images, boxes)
    assert fast_pred.mask_logits.dtype == np.float32
    agreement = ((fast_pred.mask_logits > 0) == (ref_pred.mask_logits > 0)).mean()
    assert agreement >= 0.98, agreement
    assert np.abs(fast_pred.scores - ref_pred.scores).max() < 0.05


def test_device_resampling_matches_the_host_pipeline(tiny_rossam, blob_image):
    import copy

    from rossam_geo.pipeline.plan import plan_crop
    from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input

    host = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", batch_size=3)
    device = build_rossam_engine(model=tiny_rossam, device="cpu", batch_size=2, device_resample=True)
    assert device.takes_windows and not host.takes_windows
    source = ArraySource(blob_image)
    plans = [plan_crop(b, 96, 96, crop_size=48, upsample=2.0, input_size_px=128) for b in BLOB_BOXES[:3]]
    windows = np.stack([source.read_window(p.col_off, p.row_off, p.width, p.height)[0] for p in plans])
    model_hw = (plans[0].model_height, plans[0].model_width)
    assert model_hw == (96, 96)  # 48 px windows, 2x, in a 128 px model input: resized, then padded
    inputs = np.stack([window_to_model_input(w, p) for w, p in zip(windows, plans, strict=True)])
    boxes_model = np.stack([p.box_to_model(b) for p, b in zip(plans, BLOB_BOXES[:3], strict=True)])
    expected = host.predict(inputs, boxes_model)
    boxes_window = np.stack([p.box_to_window(b) for p, b in zip(plans, BLOB_BOXES[:3], strict=True)])
    actual = device.predict_windows(windows, boxes_window, model_hw)
    assert actual.masks.shape == (3, 48, 48) and actual.masks.dtype == bool
    for i, plan in enumerate(plans):
        host_mask = logits_to_window_mask(expected.mask_logits[i], plan, None)
        assert host_mask.any()
        assert (actual.masks[i] == host_mask).mean() >= 0.995
    np.testing.assert_allclose(actual.scores, expected.scores, atol=2e-3)


def test_device_resampling_scales_clicks_as_the_host_pipeline(tiny_rossam, blob_image):
    import copy

    from rossam_geo.pipeline.plan import plan_crop
    from rossam_geo.pipeline.resample import logits_to_window_mask, window_to_model_input

    host = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", batch_size=2)
    device = build_rossam_engine(model=tiny_rossam, device="cpu", batch_size=2, device_resample=True)
    source = ArraySource(blob_image)
    boxes = BLOB_BOXES[:2]
    clicks_px = np.array([[[20.5, 18.5], [30.5, 25.5]], [[28.5, 60.5], [0.0, 0.0]]])  # raster pixels
    labels = np.array([[1, 0], [0, -1]])
    plans = [plan_crop(b, 96, 96, crop_size=48, upsample=2.0, input_size_px=128) for b in boxes]
    windows = np.stack([source.read_window(p.col_off, p.row_off, p.width, p.height)[0] for p in plans])
    inputs = np.stack([window_to_model_input(w, p) for w, p in zip(windows, plans, strict=True)])
    pairs = list(zip(plans, boxes, clicks_px, strict=True))
    boxes_model = np.stack([p.box_to_model(b) for p, b, _ in pairs])
    boxes_window = np.stack([p.box_to_window(b) for p, b, _ in pairs])
    clicks_model = np.stack([p.points_to_model(c) for p, _, c in pairs])
    clicks_window = np.stack([p.points_to_window(c) for p, _, c in pairs])
    model_hw = (plans[0].model_height, plans[0].model_width)
    expected = host.predict(inputs, boxes_model, clicks_model, labels)
    actual = device.predict_windows(windows, boxes_window, model_hw, clicks_window, labels)
    unclicked = device.predict_windows(windows, boxes_window, model_hw)
    for i, plan in enumerate(plans):
        host_mask = logits_to_window_mask(expected.mask_logits[i], plan, None)
        assert (actual.masks[i] == host_mask).mean() >= 0.995
    np.testing.assert_allclose(actual.scores, expected.scores, atol=2e-3)
    assert not np.allclose(actual.scores, unclicked.scores, atol=1e-3)  # the clicks were used


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


def test_the_pipeline_gives_windows_to_engines_that_resample_on_their_device(tiny_rossam, blob_image):
    import copy

    host = build_rossam_engine(model=copy.deepcopy(tiny_rossam), device="cpu", batch_size=2)
    device = build_rossam_engine(model=tiny_rossam, device="cpu", batch_size=2, device_resample=True)
    calls: list[tuple[int, ...]] = []
    predict_windows = device.predict_windows

    def recording(windows, boxes, model_hw):
        calls.append((*windows.shape, *model_hw))
        return predict_windows(windows, boxes, model_hw)

    device.predict_windows = recording  # type: ignore[method-assign]
    expected, actual = _masks(host, blob_image), _masks(device, blob_image)
    assert calls == [(2, 48, 48, 3, 96, 96), (1, 48, 48, 3, 96, 96)]  # raster windows, not 128 px inputs
    assert [o.status for o in actual] == [o.status for o in expected] == ["ok", "ok", "ok", "skipped"]
    for a, b in zip(expected[:3], actual[:3], strict=True):
        assert a.mask.shape == b.mask.shape == (48, 48)
        assert (a.mask == b.mask).mean() >= 0.995
        assert abs(a.score - b.score) < 2e-3
