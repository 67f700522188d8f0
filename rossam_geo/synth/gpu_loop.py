"""The time-budgeted training loop of the streamed recipe (see :mod:`rossam_geo.synth.gpu_recipe`)."""

from __future__ import annotations

import contextlib
import json
import platform
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rossam_geo.errors import InputError, OutputExistsError
from rossam_geo.io.atomic import write_text_atomic
from rossam_geo.synth.gpu_recipe import (
    GpuTrainSettings,
    Progress,
    batch_to_device,
    hq_step_losses,
    lr_factor,
    square_symmetry,
    start_feeder,
)

if TYPE_CHECKING:
    import torch

    from rossam_geo.model.rossam import RosSam
    from rossam_geo.synth.stream import StreamSettings


def _device_name(device: torch.device) -> str:
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{device.type} ({platform.machine()} {platform.processor()})".strip()


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Any:
    """Set ``stop`` on SIGTERM and SIGINT while inside (main thread only; elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def train_stream(
    out_dir: str | Path,
    stream: StreamSettings,
    settings: GpuTrainSettings,
    *,
    name: str = "rossam-compact-v4",
    overwrite: bool = False,
    log: Callable[[str], None] = print,
    run_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train a compact network from scratch on streamed scenes within ``settings.seconds``.

    Writes ``out_dir/NAME.safetensors`` (merged export) and ``out_dir/NAME.json`` (card), atomically, every
    ``settings.save_every_s`` and at the end (budget reached, SIGTERM or SIGINT).

    Args:
        out_dir: output folder (created).
        stream: what the data workers generate (its ``input_size_px`` must match the configuration).
        settings: run settings.
        name: model name (file names, card).
        overwrite: replace an existing weights file of that name.
        log: receives the progress lines.
        run_info: extra fields for the card (command, commit).

    Returns:
        The card (also written as JSON).

    Raises:
        InputError: unknown configuration, a stream cut for another input size, or a setting out of range.
        OutputExistsError: the weights file exists and ``overwrite`` is False.
        EngineError: the device is not available.
    """
    import torch
    from torch.utils.data import DataLoader

    from rossam_geo.engines.device import resolve_device
    from rossam_geo.model.attention import set_attention
    from rossam_geo.model.build import build_rossam
    from rossam_geo.model.compact import COMPACT_CONFIGS
    from rossam_geo.synth.stream import SceneCropStream, collate_crops, worker_ignores_stop_signals
    from rossam_geo.train.losses import MaskLoss

    start = time.monotonic()
    bad = [
        f"{name} {value}"
        for name, value, ok in (
            ("seconds", settings.seconds, settings.seconds > 0),
            ("batch_size", settings.batch_size, settings.batch_size >= 1),
            ("workers", settings.workers, settings.workers >= 0),
            ("max_replay", settings.max_replay, settings.max_replay >= 0),
        )
        if not ok
    ]
    if bad:
        raise InputError(
            f"need seconds > 0, batch_size >= 1, workers >= 0 and max_replay >= 0; got {', '.join(bad)}"
        )
    if settings.config not in COMPACT_CONFIGS:
        raise InputError(
            f"unknown compact configuration {settings.config!r}; choose one of: {', '.join(COMPACT_CONFIGS)}"
        )
    config = COMPACT_CONFIGS[settings.config]
    if stream.input_size_px != config.image_size_px:
        raise InputError(
            f"the stream cuts {stream.input_size_px} px crops; {config.name} takes {config.image_size_px} px"
        )
    device = resolve_device(settings.device)
    out = Path(out_dir)
    weights, card_path = out / f"{name}.safetensors", out / f"{name}.json"
    if weights.exists() and not overwrite:
        raise OutputExistsError(
            f"{weights} exists; pass --overwrite to replace it, or choose another --out-dir"
        )
    reserve = settings.validation_reserve_s if settings.validation_scenes > 0 else 0.0
    deadline = start + settings.seconds - reserve - min(5.0, 0.1 * settings.seconds)
    stop = threading.Event()
    with _stop_on_signals(stop):
        torch.manual_seed(stream.seed)
        net = build_rossam(config, lora_rank=0).requires_grad_(True).train()
        loader: DataLoader[Any] = DataLoader(
            SceneCropStream(stream),
            batch_size=settings.batch_size,
            num_workers=settings.workers,
            collate_fn=collate_crops,
            prefetch_factor=4 if settings.workers > 0 else None,
            worker_init_fn=worker_ignores_stop_signals,
        )
        # Workers start (fork) here, before CUDA is touched; batches are pinned on the feeder's thread.
        feeder = start_feeder(iter(loader), settings.queue_batches, pin=device.type == "cuda")
        net.to(device)
        set_attention(net.image_encoder, settings.attention)
        optimizer = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
        loss_fn = MaskLoss(sampling="points", num_points=settings.loss_points)

        def autocast() -> Any:
            if device.type == "cuda":
                return torch.autocast("cuda", dtype=torch.bfloat16)
            return contextlib.nullcontext()

        card: dict[str, Any] = {
            "name": name,
            "weights": weights.name,
            "architecture": f"ROS-SAM {config.name} (rossam_geo.model.compact)",
            "config": config.to_dict(),
            "initialisation": "random",
            "seed": stream.seed,
            "device": _device_name(device),
            "torch_version": torch.__version__,
            "python": platform.python_version(),
            "settings": asdict(settings),
            "stream": {
                **asdict(stream),
                "background_rasters": [Path(p).name for p in stream.background_rasters],
            },
            **(run_info or {}),
        }
        progress = Progress()
        reason = "budget"

        def save_running() -> None:
            _save(net, weights, card_path, card, progress, start, "running")

        try:
            reason = _loop(
                net,
                feeder,
                optimizer,
                loss_fn,
                autocast,
                settings,
                stream.seed,
                deadline,
                stop,
                progress,
                log,
                save_running,
            )
        except BaseException as exc:
            reason = f"error: {type(exc).__name__}: {exc}"
            raise
        finally:
            feeder.close()
            del loader
            if progress.steps > 0:
                _save(net, weights, card_path, card, progress, start, reason)
        if settings.validation_scenes > 0 and reason == "budget" and not stop.is_set():
            from rossam_geo.synth.validation import synthetic_mean_iou

            card["validation"] = synthetic_mean_iou(
                net.eval(), settings.validation_scenes, device, start + settings.seconds - 2.0
            )
            _save(net, weights, card_path, card, progress, start, reason)
    if progress.steps > 0:
        log(f"saved {weights} ({weights.stat().st_size / 2**20:.1f} MiB) and {card_path}")
    else:
        log(f"stopped ({reason}) before the first step: nothing saved")
    return card


def _loop(
    net: RosSam,
    feeder: Any,
    optimizer: Any,
    loss_fn: Any,
    autocast: Callable[[], Any],
    settings: GpuTrainSettings,
    seed: int,
    deadline: float,
    stop: threading.Event,
    progress: Progress,
    log: Callable[[str], None],
    save: Callable[[], None],
) -> str:
    """Steps until the deadline or a stop signal; returns why it stopped (``budget`` or ``signal``)."""
    import torch

    rng = np.random.default_rng((seed, 0x4E9))
    replay: deque[dict[str, Any]] = deque(maxlen=max(1, settings.replay_batches))
    credit = 0.0
    sums = torch.zeros(3, device=net.device)
    begin = last_log = last_save = time.monotonic()
    mark = (0, 0, 0, 0.0, 0)
    while not stop.is_set() and time.monotonic() < deadline:
        batch, fresh = feeder.get(0.0), True
        if batch is None and replay and credit >= 1.0:
            batch, fresh = (
                square_symmetry(replay[int(rng.integers(len(replay)))], *(rng.random(3) < 0.5)),
                False,
            )
            credit -= 1.0
        waited = time.monotonic()
        while batch is None and not stop.is_set() and time.monotonic() < deadline:
            batch = feeder.get(0.1)
        progress.wait_s += time.monotonic() - waited
        if batch is None:
            break
        if fresh:
            batch = batch_to_device(batch, net.device)
            replay.append(batch)
            credit = settings.max_replay
        now = time.monotonic()
        factor = lr_factor(
            progress.steps,
            (now - begin) / max(deadline - begin, 1e-6),
            settings.warmup_steps,
            settings.min_lr_fraction,
        )
        for group in optimizer.param_groups:
            group["lr"] = settings.lr * factor
        losses = hq_step_losses(net, batch, loss_fn, settings.iou_loss_weight, autocast)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), settings.grad_clip)
        optimizer.step()
        # No value is read back here: the host queues the next steps while the device runs (the launch
        # queue bounds how far ahead); the sums are read once per progress line.
        sums += torch.stack([losses["loss"].detach(), losses["mask"], losses["iou"]])
        n = len(batch["images"])
        progress.steps += 1
        progress.replayed_steps += 0 if fresh else 1
        progress.fresh_samples += n if fresh else 0
        progress.replayed_samples += 0 if fresh else n
        now = time.monotonic()
        progress.train_s = now - begin
        if now - last_log >= settings.log_every_s:
            mark = _log_line(progress, sums, mark, now - begin, now - last_log, settings.lr * factor, log)
            sums.zero_()
            last_log = now
        if now - last_save >= settings.save_every_s:
            save()
            last_save = now
    return "signal" if stop.is_set() else "budget"


def _log_line(
    progress: Progress,
    sums: torch.Tensor,
    mark: tuple[int, int, int, float, int],
    elapsed_s: float,
    interval_s: float,
    lr: float,
    log: Callable[[str], None],
) -> tuple[int, int, int, float, int]:
    """Print one progress line over the interval since ``mark``; record it in the loss curve."""
    steps = progress.steps - mark[0]
    fresh = progress.fresh_samples - mark[1]
    replayed = progress.replayed_samples - mark[2]
    loss, mask, iou = (sums / max(steps, 1)).tolist()
    entry = {
        "seconds": round(elapsed_s, 1),
        "step": progress.steps,
        "loss": round(loss, 5),
        "mask_loss": round(mask, 5),
        "iou_loss": round(iou, 5),
        "steps_per_s": round(steps / interval_s, 2),
        "samples_per_s": round((fresh + replayed) / interval_s, 1),
        "fresh_samples_per_s": round(fresh / interval_s, 1),
        "data_wait_fraction": round((progress.wait_s - mark[3]) / interval_s, 3),
        "replay_fraction": round((progress.replayed_steps - mark[4]) / max(steps, 1), 3),
    }
    progress.curve.append(entry)
    log(
        f"{elapsed_s:6.0f} s  step {progress.steps:6d}  {entry['steps_per_s']:6.2f} steps/s  "
        f"{entry['samples_per_s']:8.1f} samples/s ({entry['fresh_samples_per_s']:.1f} fresh)  "
        f"loss {loss:.4f} (mask {mask:.4f}, iou {iou:.4f})  data wait {entry['data_wait_fraction']:.0%}  "
        f"replay {entry['replay_fraction']:.0%}  lr {lr:.2e}"
    )
    return (
        progress.steps,
        progress.fresh_samples,
        progress.replayed_samples,
        progress.wait_s,
        progress.replayed_steps,
    )


def _save(
    net: RosSam,
    weights: Path,
    card_path: Path,
    card: dict[str, Any],
    progress: Progress,
    start: float,
    stopped: str,
) -> None:
    """Export the weights and write the card, both atomically."""
    from rossam_geo.model.checkpoint import export_merged

    export_merged(net, weights, base_name=f"random-init:{net.config.name}", overwrite=True)
    seconds = time.monotonic() - start
    card.update(
        {
            "stopped": stopped,
            "steps": progress.steps,
            "samples_seen": progress.fresh_samples + progress.replayed_samples,
            "fresh_samples": progress.fresh_samples,
            "replayed_samples": progress.replayed_samples,
            "seconds": round(seconds, 1),
            "train_seconds": round(progress.train_s, 1),
            "data_wait_fraction": round(progress.wait_s / max(progress.train_s, 1e-6), 3),
            "replay_fraction": round(progress.replayed_steps / max(progress.steps, 1), 3),
            "final_loss": progress.curve[-1]["loss"] if progress.curve else None,
            "weights_bytes": weights.stat().st_size,
            "loss_curve": progress.curve,
        }
    )
    write_text_atomic(card_path, json.dumps(card, indent=1))
