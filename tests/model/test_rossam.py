from __future__ import annotations

import pytest
import torch

from rossam_geo.errors import InputError
from rossam_geo.model.build import build_rossam
from rossam_geo.model.checkpoint import load_official
from rossam_geo.model.config import CONFIGS
from rossam_geo.model.rossam import PARAMETER_GROUPS

from .conftest import boxes_for, perturb_, random_images_u8, reference_sam


def _reference_logits(ref, images_u8, boxes, **kwargs):
    """Per-image logits at input resolution and IoU from a segment_anything(-hq) Sam, one box per image."""
    size = images_u8.shape[1]
    batched = [
        {"image": img.permute(2, 0, 1).float(), "original_size": (size, size), "boxes": box[None]}
        for img, box in zip(images_u8, boxes, strict=True)
    ]
    with torch.no_grad():
        outputs = ref(batched, multimask_output=False, **kwargs)
    logits = torch.cat(
        [ref.postprocess_masks(o["low_res_logits"], (size, size), (size, size))[:, 0] for o in outputs]
    )
    masks = torch.cat([o["masks"][:, 0] for o in outputs])
    scores = torch.cat([o["iou_predictions"][:, 0] for o in outputs])
    return logits, masks, scores


def test_fresh_rossam_equals_sam(tiny_config, tiny_sam_ref):
    model = load_official(tiny_sam_ref.state_dict(), build_rossam(tiny_config, lora_rank=4))
    images, boxes = random_images_u8(3, 128), boxes_for(3, 128)
    ref_logits, ref_masks, ref_scores = _reference_logits(tiny_sam_ref, images, boxes)
    logits, scores = model.predict(images, boxes, mode="sam")
    assert (logits - ref_logits).abs().max() <= 1e-5
    assert torch.equal(logits > 0, ref_masks)
    assert (scores - ref_scores).abs().max() <= 1e-5
    # non-trivial: the masks are neither empty nor full
    assert 0 < ref_masks.float().mean() < 1


def test_fresh_rossam_hq_mode_equals_hq_sam(tiny_config, tiny_hq_ref):
    model = load_official(tiny_hq_ref.state_dict(), build_rossam(tiny_config))
    images, boxes = random_images_u8(2, 128, seed=3), boxes_for(2, 128)
    ref_logits, _, ref_scores = _reference_logits(tiny_hq_ref, images, boxes, hq_token_only=True)
    logits, scores = model.predict(images, boxes, mode="hq")
    assert (logits - ref_logits).abs().max() <= 1e-5
    assert (scores - ref_scores).abs().max() <= 1e-5


def test_sam_plus_hq_mode_adds_sam_decoder_and_hq_token(tiny_config, tiny_hq_ref):
    model = load_official(tiny_hq_ref.state_dict(), build_rossam(tiny_config))
    images, boxes = random_images_u8(2, 128, seed=3), boxes_for(2, 128)
    sam_logits, sam_scores = model.predict(images, boxes, mode="sam")
    hq_logits, _ = model.predict(images, boxes, mode="hq")
    both_logits, both_scores = model.predict(images, boxes, mode="sam+hq")
    assert (both_logits - (sam_logits + hq_logits)).abs().max() <= 1e-5
    assert torch.equal(both_scores, sam_scores)
    # HQ-SAM's hq_token_only=False takes the SAM-token mask from the HQ decoder's own pass (where the SAM
    # tokens attend to the HQ token too), which is not SAM's decoder: the outputs differ.
    ref_logits, _, _ = _reference_logits(tiny_hq_ref, images, boxes, hq_token_only=False)
    assert (both_logits - ref_logits).abs().max() > 1e-3


def test_modes_differ(trained_tiny):
    images, boxes = random_images_u8(2, 128), boxes_for(2, 128)
    results = {mode: trained_tiny.predict(images, boxes, mode=mode)[0] for mode in ("hq", "sam", "sam+hq")}
    assert not torch.allclose(results["hq"], results["sam"])
    assert not torch.allclose(results["sam+hq"], results["sam"])


@pytest.mark.slow
def test_fresh_vit_b_equals_sam():
    from segment_anything import sam_model_registry

    torch.manual_seed(0)
    ref = perturb_(sam_model_registry["vit_b"]().eval(), seed=1, std=0.01)
    model = load_official(ref.state_dict(), build_rossam("vit_b"))
    images, boxes = random_images_u8(1, 1024), boxes_for(1, 1024) * 4
    ref_logits, _, ref_scores = _reference_logits(ref, images, boxes)
    logits, scores = model.predict(images, boxes, mode="sam")
    assert (logits - ref_logits).abs().max() <= 1e-5
    assert (scores - ref_scores).abs().max() <= 1e-5


def test_forward_train_outputs_and_gradients(trained_tiny):
    model = trained_tiny
    model.freeze_for_training()
    model.train()
    images = random_images_u8(2, 128).permute(0, 3, 1, 2)
    boxes = [boxes_for(1, 128), boxes_for(3, 128)]
    out = model.forward_train(images, boxes)
    assert out["sam_mask_logits"].shape == (4, 1, 32, 32)
    assert out["hq_mask_logits"].shape == (4, 1, 32, 32)
    assert out["sam_iou_pred"].shape == (4, 1) and out["hq_iou_pred"].shape == (4, 1)
    assert out["image_index"].tolist() == [0, 1, 1, 1]
    loss = sum(out[k].mean() for k in ("sam_mask_logits", "hq_mask_logits", "sam_iou_pred", "hq_iou_pred"))
    loss.backward()
    groups = model.named_parameter_groups()
    for group in PARAMETER_GROUPS:
        grads = [p.grad for p in groups[group].values() if p.grad is not None]
        assert grads and sum(g.abs().sum() for g in grads) > 0, group
    # every part on the path of the single-mask outputs receives a non-zero gradient; only the hypernetwork
    # MLPs of SAM's three multimask tokens (unused for box prompts) do not
    for name, param in model.named_parameters():
        if param.requires_grad:
            unused = any(f"output_hypernetworks_mlps.{i}." in name for i in (1, 2, 3))
            unused |= name.startswith("hq_decoder.output_hypernetworks_mlps.0.")
            has_grad = param.grad is not None and bool(param.grad.abs().sum() > 0)
            assert has_grad != unused, name
    trainable = {id(p) for p in model.trainable_parameters()}
    assert all(p.grad is None for p in model.parameters() if id(p) not in trainable)


def test_forward_train_single_decoder_touches_only_it(trained_tiny):
    trained_tiny.freeze_for_training()
    images = random_images_u8(1, 128).permute(0, 3, 1, 2)
    out = trained_tiny(images, [boxes_for(2, 128)], decoders="sam")
    assert set(out) == {"sam_mask_logits", "sam_iou_pred", "image_index"}
    out["sam_mask_logits"].mean().backward()
    groups = trained_tiny.named_parameter_groups()
    assert all(p.grad is None for p in groups["hq_decoder"].values())
    assert groups["sam_decoder"]["mask_decoder.transformer.layers.0.mlp.lin1.weight"].grad.abs().sum() > 0
    assert groups["lora"]["image_encoder.blocks.0.attn.qkv.lora_b_q.weight"].grad.abs().sum() > 0


def test_forward_train_matches_predict(trained_tiny):
    images, boxes = random_images_u8(2, 128, seed=5), boxes_for(2, 128)
    out = trained_tiny.forward_train(images.permute(0, 3, 1, 2), [boxes[:1], boxes[1:]])
    up = torch.nn.functional.interpolate(
        out["hq_mask_logits"], (128, 128), mode="bilinear", align_corners=False
    )
    logits, _ = trained_tiny.predict(images, boxes, mode="hq")
    assert (up[:, 0] - logits).abs().max() <= 1e-5


def test_gradient_checkpointing_gives_same_gradients(trained_tiny):
    images = random_images_u8(1, 128).permute(0, 3, 1, 2)
    boxes = [boxes_for(2, 128)]
    grads = []
    for enabled in (False, True):
        trained_tiny.zero_grad(set_to_none=True)
        trained_tiny.freeze_for_training()
        trained_tiny.train()
        trained_tiny.gradient_checkpointing = enabled
        trained_tiny(images, boxes)["hq_mask_logits"].pow(2).mean().backward()
        grads.append({n: p.grad.clone() for n, p in trained_tiny.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for name in grads[0]:
        torch.testing.assert_close(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("name", "last"), [("tiny", 3), ("vit_b", 11), ("vit_l", 23), ("vit_h", 31)])
def test_trainable_set_is_lora_last_block_and_decoders(name, last):
    with torch.device("meta"):
        model = build_rossam(name)
    model.freeze_for_training()
    groups = model.named_parameter_groups()
    depth = CONFIGS[name].encoder_depth
    expected = set()
    for n, _ in model.named_parameters():
        is_lora = ".lora_" in n
        if is_lora or n.startswith((f"image_encoder.blocks.{last}.", "mask_decoder.", "hq_decoder.")):
            expected.add(n)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == expected
    assert set().union(*(set(g) for g in groups.values())) == expected
    assert len(groups["lora"]) == 4 * depth
    assert all(n.startswith(f"image_encoder.blocks.{last}.") for n in groups["last_block"])
    assert not any(n.startswith(f"image_encoder.blocks.{last - 1}.") for n in trainable if ".lora_" not in n)
    counts = {g: sum(p.numel() for p in params.values()) for g, params in groups.items()}
    print(f"{name}: trainable parameters per group {counts}, total {sum(counts.values()):,}")
    assert counts["lora"] == depth * 4 * 16 * CONFIGS[name].encoder_embed_dim


def test_freeze_unmerges_lora(trained_tiny):
    trained_tiny.merge_lora()
    assert trained_tiny.lora_merged
    trained_tiny.freeze_for_training()
    assert not trained_tiny.lora_merged


def test_bad_inputs_are_reported(trained_tiny):
    with pytest.raises(
        InputError, match=r"expected images of shape \(B, 3, 128, 128\), got \(1, 3, 64, 64\)"
    ):
        trained_tiny.forward_train(torch.zeros(1, 3, 64, 64), [torch.zeros(1, 4)])
    with pytest.raises(InputError, match="got 2 images but 1 box tensors"):
        trained_tiny.forward_train(torch.zeros(2, 3, 128, 128), [torch.zeros(1, 4)])
    with pytest.raises(InputError, match="unknown mode 'best'; choose one of: hq, sam, sam\\+hq"):
        trained_tiny.predict(torch.zeros(1, 128, 128, 3, dtype=torch.uint8), torch.zeros(1, 4), mode="best")
    with pytest.raises(InputError, match="got 1 images but 2 boxes"):
        trained_tiny.predict(torch.zeros(1, 128, 128, 3, dtype=torch.uint8), torch.zeros(2, 4))
    with pytest.raises(InputError, match="boxes must be finite"):
        trained_tiny.predict(torch.zeros(1, 128, 128, 3, dtype=torch.uint8), torch.full((1, 4), float("nan")))


def test_no_boxes_gives_empty_outputs(trained_tiny):
    out = trained_tiny.forward_train(torch.zeros(1, 3, 128, 128), [torch.zeros(0, 4)])
    assert out["hq_mask_logits"].shape == (0, 1, 32, 32) and out["image_index"].shape == (0,)


def test_reference_sam_helper_matches_config(tiny_config):
    ref = reference_sam(tiny_config)
    ours = build_rossam(tiny_config)
    ref_shapes = {k: tuple(v.shape) for k, v in ref.state_dict().items()}
    our_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items() if k in ref_shapes}
    assert our_shapes == ref_shapes


def test_hq_mode_decodes_a_batch_in_one_pass_like_one_image_at_a_time(trained_tiny):
    images, boxes = random_images_u8(4, 128, seed=5), boxes_for(4, 128)
    calls: list[int] = []
    trained_tiny.hq_decoder.register_forward_hook(lambda _m, args, _out: calls.append(args[0].shape[0]))
    logits, scores = trained_tiny.predict(images, boxes, mode="hq")
    assert calls == [4]  # one decoder pass for the batch
    for i in range(4):
        one_logits, one_scores = trained_tiny.predict(images[i : i + 1], boxes[i : i + 1], mode="hq")
        assert (logits[i] - one_logits[0]).abs().max() <= 1e-5
        assert (scores[i] - one_scores[0]).abs().max() <= 1e-5


def test_hq_decoder_needs_one_image_or_one_image_per_prompt(trained_tiny):
    images, boxes = random_images_u8(3, 128, seed=5), boxes_for(3, 128)
    with torch.inference_mode():
        embeddings, interm = trained_tiny.image_encoder(trained_tiny.preprocess(images.permute(0, 3, 1, 2)))
        sparse, dense = trained_tiny.prompt_encoder(points=None, boxes=boxes[:2], masks=None)
        pe = trained_tiny.prompt_encoder.get_dense_pe()
        with pytest.raises(
            InputError, match="2 prompts on 3 images; give one image, or one image per prompt"
        ):
            trained_tiny.hq_decoder(embeddings, pe, sparse, dense, interm)


# ------------------------------------------------------------------------------------------------- points
#: per object: two clicks; none (all padding); one click padded to two.
POINTS = torch.tensor([[[20.0, 40.0], [30.0, 22.0]], [[0.0, 0.0], [0.0, 0.0]], [[40.0, 30.0], [0.0, 0.0]]])
LABELS = torch.tensor([[1, 0], [-1, -1], [0, -1]])


def _reference_with_points(ref, images_u8, boxes, points, labels, **kwargs):
    """Logits and IoU of a segment_anything(-hq) Sam, one box and that object's clicks (padding left out)."""
    size = images_u8.shape[1]
    logits, scores = [], []
    for image, box, object_points, object_labels in zip(images_u8, boxes, points, labels, strict=True):
        record = {"image": image.permute(2, 0, 1).float(), "original_size": (size, size), "boxes": box[None]}
        valid = object_labels >= 0
        if valid.any():
            record["point_coords"] = object_points[valid][None]
            record["point_labels"] = object_labels[valid][None]
        with torch.no_grad():
            (out,) = ref([record], multimask_output=False, **kwargs)
        logits.append(ref.postprocess_masks(out["low_res_logits"], (size, size), (size, size))[:, 0])
        scores.append(out["iou_predictions"][:, 0])
    return torch.cat(logits), torch.cat(scores)


def test_points_reach_the_prompt_encoder_as_sam_takes_them(tiny_config, tiny_sam_ref):
    model = load_official(tiny_sam_ref.state_dict(), build_rossam(tiny_config, lora_rank=4))
    images, boxes = random_images_u8(3, 128), boxes_for(3, 128)
    ref_logits, ref_scores = _reference_with_points(tiny_sam_ref, images, boxes, POINTS, LABELS)
    logits, scores = model.predict(images, boxes, mode="sam", points_px_xy=POINTS, point_labels=LABELS)
    assert (logits - ref_logits).abs().max() <= 1e-5
    assert (scores - ref_scores).abs().max() <= 1e-5
    # the clicks change the objects that have some, and only those; padding changes nothing
    box_only, _ = model.predict(images, boxes, mode="sam")
    assert (logits[[0, 2]] - box_only[[0, 2]]).abs().max() > 1e-2
    assert (logits[1] - box_only[1]).abs().max() <= 1e-5
    alone, _ = model.predict(
        images[2:], boxes[2:], mode="sam", points_px_xy=POINTS[2:, :1], point_labels=LABELS[2:, :1]
    )
    assert (alone[0] - logits[2]).abs().max() <= 1e-5


def test_points_in_hq_mode_equal_hq_sam(tiny_config, tiny_hq_ref):
    model = load_official(tiny_hq_ref.state_dict(), build_rossam(tiny_config))
    images, boxes = random_images_u8(3, 128, seed=3), boxes_for(3, 128)
    ref_logits, ref_scores = _reference_with_points(
        tiny_hq_ref, images, boxes, POINTS, LABELS, hq_token_only=True
    )
    logits, scores = model.predict(images, boxes, mode="hq", points_px_xy=POINTS, point_labels=LABELS)
    assert (logits - ref_logits).abs().max() <= 1e-5
    assert (scores - ref_scores).abs().max() <= 1e-5


def test_bad_points_are_reported(trained_tiny):
    images, boxes = random_images_u8(2, 128), boxes_for(2, 128)
    with pytest.raises(InputError, match=r"expected \(2, K, 2\) XY points"):
        trained_tiny.predict(images, boxes, points_px_xy=torch.zeros(2, 3), point_labels=torch.zeros(2, 3))
    with pytest.raises(InputError, match="point labels must be 1 .object., 0 .background. or -1"):
        trained_tiny.predict(
            images, boxes, points_px_xy=torch.zeros(2, 1, 2), point_labels=torch.full((2, 1), 2)
        )
