"""Dask clusters: scheduler addresses, connecting, GPU resources, and the engines each worker keeps loaded.

Scheduler addresses: ``local:N`` starts a ``LocalCluster`` of N single-threaded worker processes bound to
127.0.0.1; anything else is the address of a running scheduler (``tcp://127.0.0.1:8786``). GPU workers are
declared with ``dask worker --resources GPU=1``; with ``device="cuda"`` every task asks for ``{"GPU": 1}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from rossam_geo.errors import InputError, explain

if TYPE_CHECKING:
    from distributed import Client

    from rossam_geo.engines.base import Engine
    from rossam_geo.video.tracks import TrackJob

__all__ = [
    "connect",
    "gpu_resources",
    "parse_scheduler",
    "warm_workers",
    "worker_cache",
    "worker_engine",
    "worker_segmenter",
]

#: Attribute of a dask Worker holding its loaded engines, keyed by construction options.
_CACHE_ATTR = "rossam_geo_engines"


def parse_scheduler(address: str) -> tuple[Literal["local", "remote"], int | str]:
    """Split a ``--scheduler`` value into ("local", worker count) or ("remote", address), without connecting
    (:func:`rossam_geo.validate.parse_scheduler_address`).

    Raises:
        OptionError: ``local`` without a positive worker count, or not a scheduler address.
    """
    from rossam_geo.validate import parse_scheduler_address

    return parse_scheduler_address(address, option="scheduler")


@contextmanager
def connect(scheduler: str, *, worker_resources: dict[str, float] | None = None) -> Iterator[Client]:
    """A dask ``Client`` for ``scheduler`` (see :func:`parse_scheduler`), closed on exit.

    Args:
        scheduler: ``local:N`` or a scheduler address.
        worker_resources: resources each local worker declares (``{"GPU": 1}`` for CUDA jobs, whose tasks
            ask for one GPU; the local workers then share the visible GPUs); ignored for remote schedulers,
            whose workers declare their own.
    """
    from distributed import Client, LocalCluster

    kind, value = parse_scheduler(scheduler)
    if kind == "local":
        with (
            LocalCluster(
                n_workers=int(value),
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
                resources=worker_resources,
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
    else:
        try:
            client = Client(str(value))
        except OSError as exc:  # distributed reports a refused or timed-out connection as OSError
            why = explain(exc, max_chars=500).split(": in <")[0]  # distributed adds the connector object
            raise InputError(
                f"cannot reach the Dask scheduler at {str(value)!r} ({why[:160]}); start it, or check the "
                "address"
            ) from None
        with client:
            yield client


def gpu_resources(device: str) -> dict[str, float] | None:
    """Task resources for a device: ``{"GPU": 1}`` for CUDA, None otherwise."""
    return {"GPU": 1} if device.startswith("cuda") else None


def worker_cache(worker: Any = None) -> dict[Any, Any]:
    """The engine cache of ``worker`` (default: the worker running this task; a plain dict outside dask)."""
    from distributed import get_worker

    if worker is None:
        try:
            worker = get_worker()
        except ValueError:
            return _LOCAL_CACHE
    cache = getattr(worker, _CACHE_ATTR, None)
    if cache is None:
        cache = {}
        setattr(worker, _CACHE_ATTR, cache)
    return cache


_LOCAL_CACHE: dict[Any, Any] = {}


def worker_engine(job: TrackJob) -> Engine:
    """The engine of ``job``, built once per worker and reused by later tasks."""
    cache = worker_cache()
    key = ("engine", *job.engine_key())
    if key not in cache:
        cache[key] = job.build_engine()
    engine: Engine = cache[key]
    return engine


def worker_segmenter(
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    engine_options: Mapping[str, Any] | None = None,
    *,
    worker: Any = None,
) -> Any:
    """A :class:`rossam_geo.api.Segmenter`, built once per worker and reused by later tasks.

    ``engine_options`` go to the engine's factory (``precision``, ``attention``, ``compile``, ``tta`` of the
    SAM-family engines); segmenters with different options are cached apart.
    """
    from rossam_geo.api import Segmenter

    extra = dict(engine_options or {})
    cache = worker_cache(worker)
    key = ("segmenter", engine, weights, device, batch_size, tuple(sorted(extra.items())))
    if key not in cache:
        if batch_size is not None:
            extra["batch_size"] = batch_size
        cache[key] = Segmenter(engine=engine, weights=weights, device=device, **extra)
    return cache[key]


def _warm(
    engine: str,
    weights: str | None,
    device: str,
    batch_size: int | None,
    engine_options: Mapping[str, Any] | None,
    dask_worker: Any = None,
) -> None:
    worker_segmenter(engine, weights, device, batch_size, engine_options, worker=dask_worker)


def warm_workers(
    client: Client,
    engine: str,
    weights: str | None = None,
    device: str = "auto",
    batch_size: int | None = None,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Load the engine on every connected worker now (before timing, or to fail early on bad weights)."""
    client.run(_warm, engine, weights, device, batch_size, dict(engine_options or {}))
