from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from rossam_geo.engines import Engine, get_engine
from rossam_geo.engines.device import resolve_device
from rossam_geo.engines.sam import build_hq_sam_engine, build_rossam_engine, build_sam_engine
from rossam_geo.errors import ChecksumError, EngineError, InputError, WeightsError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import export_merged, load_official, save_adapter
from tests.model.conftest import boxes_for, random_images_u8, reference_sam


def _inputs(batch: int = 3):
    return random_images_u8(batch, 128, seed=2).numpy(), boxes_for(batch, 128).double().numpy()


def test_engines_follow_the_protocol(tiny_sam_file):
    engine = get_engine("sam", weights=str(tiny_sam_file), device="cpu")
    assert isinstance(engine, Engine)
    assert (engine.name, engine.input_size_px, engine.max_batch) == ("sam", 128, 1)
    assert engine.model_name == "sam_tiny.pth"
    images, boxes = _inputs()
    pred = engine.predict(images, boxes)
    assert pred.mask_logits.shape == (3, 128, 128) and pred.mask_logits.dtype == np.float32
    assert pred.scores.shape == (3,) and pred.scores.dtype == np.float32


def test_sam_engine_equals_segment_anything(tiny_sam_file):
    ref = reference_sam(build_rossam("tiny").config)
    ref.load_state_dict(torch.load(tiny_sam_file, map_location="cpu", weights_only=True))
    images, boxes = _inputs(2)
    pred = build_sam_engine(weights=tiny_sam_file, device="cpu", batch_size=2).predict(images, boxes)
    for i in range(2):
        batched = [
            {
                "image": torch.from_numpy(images[i]).permute(2, 0, 1).float(),
                "original_size": (128, 128),
                "boxes": torch.from_numpy(boxes[i : i + 1]).float(),
            }
        ]
        with torch.no_grad():
            out = ref(batched, multimask_output=False)[0]
        logits = ref.postprocess_masks(out["low_res_logits"], (128, 128), (128, 128))[0, 0]
        assert np.abs(pred.mask_logits[i] - logits.numpy()).max() <= 1e-5
        # SAM's IoU head is a plain regression; the engine clamps it to the range of an IoU
        expected_score = min(max(out["iou_predictions"][0, 0].item(), 0.0), 1.0)
        assert abs(pred.scores[i] - expected_score) <= 1e-5


def test_hq_sam_engine_equals_hq_sam(tiny_hq_file):
    ref = reference_sam(build_rossam("tiny").config, hq=True)
    ref.load_state_dict(torch.load(tiny_hq_file, map_location="cpu", weights_only=True))
    images, boxes = _inputs(1)
    engine = build_hq_sam_engine(weights=str(tiny_hq_file), device="cpu")
    assert engine.mode == "hq"
    pred = engine.predict(images, boxes)
    batched = [
        {
            "image": torch.from_numpy(images[0]).permute(2, 0, 1).float(),
            "original_size": (128, 128),
            "boxes": torch.from_numpy(boxes).float(),
        }
    ]
    with torch.no_grad():
        out = ref(batched, multimask_output=False, hq_token_only=True)[0]
    logits = ref.postprocess_masks(out["low_res_logits"], (128, 128), (128, 128))[0, 0]
    assert np.abs(pred.mask_logits[0] - logits.numpy()).max() <= 1e-5


def test_hq_sam_engine_rejects_plain_sam_file(tiny_sam_file):
    with pytest.raises(
        WeightsError, match=r"needs an HQ-SAM checkpoint .* is tiny \(SAM\); use --engine sam"
    ):
        build_hq_sam_engine(weights=tiny_sam_file, device="cpu")


def test_batches_are_split_without_changing_results(tiny_sam_file):
    images, boxes = _inputs(5)
    one = build_sam_engine(weights=tiny_sam_file, device="cpu", batch_size=1).predict(images, boxes)
    two = build_sam_engine(weights=tiny_sam_file, device="cpu", batch_size=2).predict(images, boxes)
    np.testing.assert_allclose(one.mask_logits, two.mask_logits, atol=1e-5)
    np.testing.assert_allclose(one.scores, two.scores, atol=1e-5)


def test_rossam_engine_from_adapter_matches_trained_model(adapter_file, trained_on_hq):
    engine = build_rossam_engine(weights=str(adapter_file), device="cpu")
    assert engine.name == "rossam" and engine.mode == "hq"
    assert engine.model.lora_merged
    assert engine.model_name == "adapter.safetensors (base sam_hq_tiny.pth)"
    images, boxes = _inputs(2)
    pred = engine.predict(images, boxes)
    expected, scores = trained_on_hq.predict(torch.from_numpy(images), torch.from_numpy(boxes), mode="hq")
    assert np.abs(pred.mask_logits - expected.numpy()).max() <= 1e-5
    assert np.abs(pred.scores - scores.clamp(0, 1).numpy()).max() <= 1e-5  # the engine clamps to [0, 1]
    sam_hq = build_rossam_engine(weights=adapter_file, device="cpu", mode="sam+hq").predict(images, boxes)
    assert np.abs(sam_hq.mask_logits - pred.mask_logits).max() > 1e-3


def test_adapter_base_found_beside_it(tmp_path, trained_on_hq, tiny_hq_file):
    folder = tmp_path / "run"
    folder.mkdir()
    shutil.copy(tiny_hq_file, folder / "base.pth")
    from rossam_geo.io.hashing import sha256_file

    adapter = save_adapter(trained_on_hq, folder / "a.safetensors", "base.pth", sha256_file(tiny_hq_file))
    engine = build_rossam_engine(weights=adapter, device="cpu")
    assert engine.model_name == "a.safetensors (base base.pth)"


def test_adapter_with_wrong_base_is_refused(tmp_path, adapter_file, tiny_sam_file):
    with pytest.raises(
        ChecksumError, match=r"base weights .*sam_tiny.pth have SHA-256 [0-9a-f]{64}, but adapter"
    ):
        build_rossam_engine(weights=adapter_file, base_weights=tiny_sam_file, device="cpu")


def test_adapter_with_missing_base(tmp_path, trained_on_hq):
    adapter = save_adapter(trained_on_hq, tmp_path / "a.safetensors", str(tmp_path / "gone.pth"), "c" * 64)
    with pytest.raises(WeightsError, match=r"needs its base weights .*gone.pth"):
        build_rossam_engine(weights=adapter, device="cpu")
    random_base = save_adapter(trained_on_hq, tmp_path / "r.safetensors", "random-init:tiny:seed0", "c" * 64)
    with pytest.raises(
        WeightsError, match=r"was trained on random-init:tiny:seed0, which is not a weights file"
    ):
        build_rossam_engine(weights=random_base, device="cpu")


def test_rossam_engine_from_merged_export(tmp_path, trained_on_hq):
    path = export_merged(trained_on_hq, tmp_path / "merged.safetensors")
    images, boxes = _inputs(2)
    pred = build_rossam_engine(weights=path, device="cpu").predict(images, boxes)
    expected, _ = trained_on_hq.predict(torch.from_numpy(images), torch.from_numpy(boxes), mode="hq")
    assert np.abs(pred.mask_logits - expected.numpy()).max() <= 1e-5


def test_rossam_engine_without_weights_or_bundle_explains(monkeypatch):
    monkeypatch.setattr("rossam_geo.model.compact.bundled_weights_path", lambda: None)
    with pytest.raises(
        WeightsError, match=r"needs trained ROS-SAM weights: none are published.*rossam-geo train"
    ):
        build_rossam_engine(device="cpu")


def test_rossam_engine_refuses_official_file(tiny_hq_file):
    with pytest.raises(WeightsError, match=r"is not ROS-SAM weights .* --engine sam / --engine hq-sam"):
        build_rossam_engine(weights=tiny_hq_file, device="cpu")


def test_missing_default_weights_tell_how_to_fetch():
    with pytest.raises(WeightsError, match=r"rossam-geo weights fetch sam_vit_b"):
        build_sam_engine(device="cpu")


def test_tiny_random_and_given_models(tiny_hq_file):
    engine = build_rossam_engine(config="tiny", device="cpu", batch_size=4)
    assert engine.model_name == "tiny (random weights)" and engine.max_batch == 4
    model = load_official(tiny_hq_file, build_rossam("tiny", lora_rank=0))
    given = build_hq_sam_engine(model=model, device="cpu")
    assert given.model is model
    images, boxes = _inputs(1)
    assert given.predict(images, boxes).mask_logits.shape == (1, 128, 128)


def test_bad_inputs_and_options(tiny_sam_file):
    engine = build_sam_engine(weights=tiny_sam_file, device="cpu")
    images, boxes = _inputs(2)
    with pytest.raises(
        InputError, match=r"takes \(B, 128, 128, 3\) uint8 RGB images, got float32 \(2, 128, 128, 3\)"
    ):
        engine.predict(images.astype(np.float32), boxes)
    with pytest.raises(InputError, match=r"expected \(2, 4\) boxes, one per image, got \(1, 4\)"):
        engine.predict(images, boxes[:1])
    empty = engine.predict(images[:0], boxes[:0])
    assert empty.mask_logits.shape == (0, 128, 128) and empty.scores.shape == (0,)
    with pytest.raises(InputError, match="unknown rossam mode 'fast'"):
        build_rossam_engine(config="tiny", mode="fast")
    with pytest.raises(InputError, match="batch_size must be >= 1, got 0"):
        build_sam_engine(config="tiny", batch_size=0, device="cpu")


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(EngineError, match=r"unknown device 'gpu7'"):
        resolve_device("gpu7")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="CUDA is not available here; use --device cpu"):
            resolve_device("cuda")


def test_sam_engine_on_hq_file_uses_sams_decoder(tiny_hq_file):
    """An HQ-SAM file holds SAM's decoder too; the sam engine runs it, which differs from the HQ token."""
    images, boxes = _inputs(1)
    sam = build_sam_engine(weights=tiny_hq_file, device="cpu").predict(images, boxes)
    hq = build_hq_sam_engine(weights=tiny_hq_file, device="cpu").predict(images, boxes)
    ref = reference_sam(build_rossam("tiny").config)
    state = torch.load(tiny_hq_file, map_location="cpu", weights_only=True)
    ref.load_state_dict({k: v for k, v in state.items() if k in ref.state_dict()})
    batched = [
        {
            "image": torch.from_numpy(images[0]).permute(2, 0, 1).float(),
            "original_size": (128, 128),
            "boxes": torch.from_numpy(boxes).float(),
        }
    ]
    with torch.no_grad():
        out = ref(batched, multimask_output=False)[0]
    logits = ref.postprocess_masks(out["low_res_logits"], (128, 128), (128, 128))[0, 0]
    assert np.abs(sam.mask_logits[0] - logits.numpy()).max() <= 1e-5
    assert np.abs(sam.mask_logits - hq.mask_logits).max() > 1e-3
