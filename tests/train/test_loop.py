from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.train.config import TrainConfig
from rossam_geo.train.data import AugmentedDataset, CocoInstances, collate_samples
from rossam_geo.train.loop import EpochShardSampler, decoder_for_step, train, training_step
from rossam_geo.train.losses import MaskLoss
from rossam_geo.train.transforms import EvalTransform

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture()
def one_thread():
    """Tiny models train much faster on one thread when the CPU is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_config(data: Path, out: Path, **overrides) -> TrainConfig:
    options = dict(
        data=str(data),
        output_dir=str(out),
        model="tiny",
        base_weights="",
        exclude_classes=(),
        lora_rank=4,
        epochs=2,
        workers=0,
        accelerator="cpu",
        progress=False,
        val_fraction=0.25,
        lsj_min_scale=0.5,
        lsj_max_scale=1.5,
        loss_points=256,
    )
    options.update(overrides)
    return TrainConfig(**options)


def test_decoders_alternate_by_step():
    assert [decoder_for_step(s) for s in range(4)] == ["sam", "hq", "sam", "hq"]


def test_alternating_updates_touch_only_the_active_decoder(shapes_coco, one_thread):
    from rossam_geo.model.build import build_rossam

    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=4)
    model.freeze_for_training()
    model.train()
    named = model.named_parameter_groups()
    groups = {name: list(g.values()) for name, g in named.items()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2, weight_decay=0.01)
    data = AugmentedDataset(CocoInstances(shapes_coco), [0, 1], EvalTransform(128), seed=0)
    batch = collate_samples([data[0], data[1]])
    loss = MaskLoss(sampling="dense")

    def snapshot() -> dict[str, dict[str, torch.Tensor]]:
        return {g: {n: p.detach().clone() for n, p in params.items()} for g, params in named.items()}

    def changed(before, after, group) -> list[bool]:
        return [not torch.equal(before[group][n], after[group][n]) for n in before[group]]

    hq_ids = {id(p) for p in groups["hq_decoder"]}
    for step in range(4):
        before = snapshot()
        decoder, values = training_step(model, optimizer, batch, step, loss, groups, lambda t: t.backward())
        after = snapshot()
        assert math.isfinite(values["loss"]) and values["objects"] == 4
        active, idle = ("sam_decoder", "hq_decoder") if decoder == "sam" else ("hq_decoder", "sam_decoder")
        assert not any(changed(before, after, idle)), f"step {step}: {idle} moved on a {decoder} step"
        assert any(changed(before, after, active)), f"step {step}: {active} did not move"
        assert any(changed(before, after, "lora")) and any(changed(before, after, "last_block"))
        if step == 0:  # the idle HQ decoder has no optimizer state at all: AdamW skipped it
            assert not any(id(p) in hq_ids for p in optimizer.state)
    # By step 2 the HQ decoder had Adam momentum from step 1, yet it stayed put on step 2 (checked above);
    # and both LoRA factors have moved by now.
    lora = named["lora"]
    assert all(not torch.equal(p, torch.zeros_like(p)) for n, p in lora.items() if "lora_b" in n)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_iou_loss_trains_the_active_decoders_iou_head(shapes_coco, one_thread, weight):
    from rossam_geo.model.build import build_rossam

    torch.manual_seed(0)
    model = build_rossam("tiny", lora_rank=4)
    model.freeze_for_training()
    model.train()
    groups = {name: list(g.values()) for name, g in model.named_parameter_groups().items()}
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=1e-2)
    data = AugmentedDataset(CocoInstances(shapes_coco), [0, 1], EvalTransform(128), seed=0)
    batch = collate_samples([data[0], data[1]])
    heads = {
        name: p.detach().clone() for name, p in model.named_parameters() if ".iou_prediction_head." in name
    }
    decoder, values = training_step(
        model, optimizer, batch, 1, MaskLoss(sampling="dense"), groups, torch.Tensor.backward, weight
    )
    assert decoder == "hq"
    moved = {n for n, p in model.named_parameters() if n in heads and not torch.equal(p, heads[n])}
    if weight == 0:  # the paper's loss: the IoU head gets no gradient and AdamW skips it
        assert moved == set() and math.isnan(values["iou_mse"])
    else:  # the HQ decoder's IoU head learns; SAM's (idle decoder) does not
        assert moved and all(n.startswith("hq_decoder.iou_prediction_head.") for n in moved)
        assert 0.0 <= values["iou_mse"] <= 4.0
        assert values["loss"] == pytest.approx(values["bce"] + values["dice"] + values["iou_mse"], rel=1e-5)


def test_epoch_shard_sampler_covers_the_data_once_per_epoch():
    ranks = [EpochShardSampler(10, seed=3, rank=r, world_size=3, shuffle=True) for r in range(3)]
    shards = [list(s) for s in ranks]
    assert all(len(s) == 4 for s in shards)
    assert set(sum(shards, [])) == set(range(10))
    for s in ranks:
        s.use_epoch(1)
    assert [list(s) for s in ranks] != shards
    val = [list(EpochShardSampler(5, 0, r, 2, shuffle=False)) for r in range(2)]
    assert val == [[0, 2, 4], [1, 3]]


def test_resume_equals_uninterrupted_run(shapes_coco, tmp_path, one_thread):
    resumed_dir, straight_dir = tmp_path / "resumed", tmp_path / "straight"
    first = train(tiny_config(shapes_coco, resumed_dir, epochs=2))
    assert [r.epoch for r in first.history] == [1, 2]
    after_two = load_file(first.last_adapter)
    second = train(tiny_config(shapes_coco, resumed_dir, epochs=4, resume=True))
    straight = train(tiny_config(shapes_coco, straight_dir, epochs=4))
    assert [r.epoch for r in second.history] == [1, 2, 3, 4]
    for a, b in zip(second.history, straight.history, strict=True):
        assert a.steps == b.steps
        assert a.train_loss_sam == pytest.approx(b.train_loss_sam, rel=1e-4, abs=1e-5)
        assert a.train_loss_hq == pytest.approx(b.train_loss_hq, rel=1e-4, abs=1e-5)
        assert a.val_iou == pytest.approx(b.val_iou, abs=1e-3)
    resumed_w, straight_w = load_file(second.last_adapter), load_file(straight.last_adapter)
    assert resumed_w.keys() == straight_w.keys()
    for key in resumed_w:
        torch.testing.assert_close(resumed_w[key], straight_w[key], rtol=1e-4, atol=1e-5)
    # The weights did change during training, so the comparison above is not vacuous.
    assert any(not torch.equal(after_two[k], straight_w[k]) for k in straight_w)
    history = json.loads((straight_dir / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert (straight_dir / "logs" / "metrics.csv").is_file()
    assert (straight_dir / "best.safetensors").is_file()
    # The resumed segment logged into its own folder; the first segment's metrics are kept.
    assert (resumed_dir / "logs" / "metrics.csv").is_file()
    assert len(list((resumed_dir / "logs").glob("resumed-*/metrics.csv"))) == 1


def test_existing_run_is_not_overwritten(shapes_coco, tmp_path, one_thread):
    train(tiny_config(shapes_coco, tmp_path, epochs=1))
    with pytest.raises(OutputExistsError, match="--resume"):
        train(tiny_config(shapes_coco, tmp_path, epochs=1))
    with pytest.raises(InputError, match="same --model"):
        from rossam_geo.train import loop

        state = torch.load(tmp_path / "state" / "last.ckpt", map_location="cpu", weights_only=True)
        state["model_name"] = "vit_b"
        torch.save(state, tmp_path / "state" / "last.ckpt")
        loop.train(tiny_config(shapes_coco, tmp_path, epochs=2, resume=True))


def test_ddp_two_cpu_processes_through_torchrun(shapes_coco, tmp_path):
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "rossam_geo.cli.train",
        "--data", str(shapes_coco), "-o", str(out), "--model", "tiny", "--base-weights", "",
        "--exclude-classes", "none", "--epochs", "1", "--workers", "0", "--accelerator", "cpu",
        "--lora-rank", "4", "--loss-points", "256", "--no-progress", "--val-fraction", "0.25",
    ]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (out / "last.safetensors").is_file() and (out / "state" / "last.ckpt").is_file()
    history = json.loads((out / "history.json").read_text())
    # 9 training images over 2 ranks: 5 steps each; the 3 validation images hold 6 objects, split over ranks.
    assert history[0]["steps"] == 5
    assert history[0]["val_objects"] == 6
    assert "done: 1 epochs" in proc.stdout


def test_tiny_model_learns_generated_shapes(tmp_path, one_thread):
    """Random-initialised tiny network, blocky shapes of random colours on textured backgrounds (one object
    per image, cells aligned with the 16 px patches): validation IoU from < 0.3 to > 0.9 in a few epochs."""
    from tests.train.synthetic import write_coco

    data = write_coco(tmp_path / "shapes", n_images=200, seed=11, n_objects=1, blocky=True)
    config = tiny_config(
        data,
        tmp_path / "run",
        epochs=5,
        lr=2e-3,
        lora_rank=8,
        rotation=False,
        photometric=False,
        lsj_min_scale=1.0,
        lsj_max_scale=1.0,
        loss_sampling="dense",
        val_fraction=0.1,
    )
    result = train(config)
    hq = [r.val_iou for r in result.history]
    sam = [r.val_iou_sam for r in result.history]
    assert result.initial_val_iou < 0.3, (result.initial_val_iou, hq)
    assert result.best_val_iou > 0.9, hq
    assert result.history[-1].train_loss_sam < result.history[0].train_loss_sam, (
        sam
    )  # SAM's decoder learns too
    assert result.history[-1].val_objects == 20
    assert result.best_adapter is not None and result.best_adapter.is_file()


def test_training_from_base_weights_records_them_and_keeps_them_frozen(shapes_coco, tmp_path, one_thread):
    """A SAM-layout checkpoint as base: the adapter names it and its hash; frozen tensors stay as loaded."""
    from rossam_geo.io.hashing import sha256_file
    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.checkpoint import load_adapter, official_keys, read_metadata

    torch.manual_seed(123)
    base = build_rossam("tiny", lora_rank=4)
    keys = official_keys(base)
    base_file = tmp_path / "sam_tiny.pth"
    torch.save({k: v for k, v in base.state_dict().items() if k in keys}, base_file)
    result = train(tiny_config(shapes_coco, tmp_path / "run", epochs=1, base_weights=str(base_file)))
    meta = read_metadata(result.last_adapter)
    assert meta.base_name == "sam_tiny.pth" and meta.base_sha256 == sha256_file(base_file)
    # The base weights plus the adapter rebuild the trained network; frozen weights equal the base file's.
    from rossam_geo.model.checkpoint import load_official

    rebuilt = load_official(base_file, build_rossam("tiny", lora_rank=4))
    load_adapter(rebuilt, result.last_adapter)
    frozen = "image_encoder.blocks.0.mlp.lin1.weight"
    assert torch.equal(rebuilt.state_dict()[frozen], base.state_dict()[frozen])
    trained_block = "image_encoder.blocks.3.mlp.lin1.weight"  # the last block of the tiny network: trained
    assert trained_block in load_file(result.last_adapter)
    assert not torch.equal(rebuilt.state_dict()[trained_block], base.state_dict()[trained_block])
