"""Image-encoder time per 1024 px crop: SAM vit_b on the CPU in fp32 and bf16 autocast; vit_l on CUDA in bf16.

Random weights (timing does not depend on them). Run from the repository root:

    python benchmarks/encoder_cpu.py [--repeats 2] [--warmup 1]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import torch

from rossam_geo.model.build import build_rossam


def seconds_per_batch(
    encoder: torch.nn.Module,
    images: torch.Tensor,
    autocast: contextlib.AbstractContextManager[object] | None,
    warmup: int,
    repeats: int,
) -> float:
    """Mean wall time of one encoder forward over ``repeats`` runs, after ``warmup`` untimed runs."""
    cuda = images.device.type == "cuda"
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            with autocast if autocast is not None else contextlib.nullcontext():
                if cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                encoder(images)
                if cuda:
                    torch.cuda.synchronize()
                if i >= warmup:
                    times.append(time.perf_counter() - start)
    return sum(times) / len(times)


def cpu_vit_b(warmup: int, repeats: int) -> None:
    load_before = os.getloadavg()[0]
    torch.manual_seed(0)
    encoder = build_rossam("vit_b", lora_rank=0).image_encoder.eval()
    images = torch.randn(1, 3, 1024, 1024)
    fp32 = seconds_per_batch(encoder, images, None, warmup, repeats)
    bf16 = seconds_per_batch(encoder, images, torch.autocast("cpu", dtype=torch.bfloat16), warmup, repeats)
    threads, cpus = torch.get_num_threads(), os.cpu_count()
    print(f"CPU: {threads} torch threads, {cpus} logical CPUs, torch {torch.__version__}")
    load_after = os.getloadavg()[0]
    print(f"1-min load average before: {load_before:.1f}, after: {load_after:.1f} (load slows timings)")
    print(f"vit_b encoder, 1x3x1024x1024, fp32:          {fp32:7.2f} s per crop")
    print(f"vit_b encoder, 1x3x1024x1024, bf16 autocast: {bf16:7.2f} s per crop")
    print(f"fp32 / bf16 time ratio: {fp32 / bf16:.2f}")


def cuda_vit_l(warmup: int, repeats: int) -> None:
    torch.manual_seed(0)
    device = torch.device("cuda")
    encoder = build_rossam("vit_l", lora_rank=0).image_encoder.eval().to(device)
    print(f"CUDA: {torch.cuda.get_device_name(device)}")
    for batch in (1, 4, 8):
        images = torch.randn(batch, 3, 1024, 1024, device=device)
        autocast = torch.autocast("cuda", dtype=torch.bfloat16)
        per_batch = seconds_per_batch(encoder, images, autocast, warmup, repeats)
        print(f"vit_l encoder, bf16 autocast, batch {batch}: {1000 * per_batch / batch:8.1f} ms per crop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before timing")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs, averaged")
    args = parser.parse_args()
    cpu_vit_b(args.warmup, args.repeats)
    if torch.cuda.is_available():
        cuda_vit_l(args.warmup, max(args.repeats, 5))
    else:
        print("CUDA not available: vit_l GPU timings skipped")


if __name__ == "__main__":
    main()
