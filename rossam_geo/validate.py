"""Checks of option values, made before any work: each returns the parsed value or raises a one-line error.

* :func:`parse_crs`: a CRS string pyproj knows (EPSG code, WKT, PROJ string, URN...);
* :func:`parse_scheduler_address`: ``local:N`` or the address of a running Dask scheduler;
* :func:`check_download_url`: an ``http(s)://`` URL with a host, or a ``file://`` URL.

Messages name the option as the user wrote it (``option``), quote the value (shortened when long) and say
what to give instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from rossam_geo.errors import CRSOptionError, OptionError

if TYPE_CHECKING:
    import pyproj

__all__ = ["check_download_url", "parse_crs", "parse_scheduler_address", "shorten"]

#: longest quoted value in a message; longer ones (a pasted WKT) are cut with "...".
MAX_QUOTED_CHARS = 60
#: URL schemes the weights download understands.
DOWNLOAD_SCHEMES = ("https", "http", "file")


def shorten(value: object, max_chars: int = MAX_QUOTED_CHARS) -> str:
    """``repr(value)`` on one line, cut to ``max_chars`` characters with "..." when longer."""
    text = repr(value).replace("\\n", " ")
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def parse_crs(value: str | pyproj.CRS, *, option: str = "CRS") -> pyproj.CRS:
    """The CRS named by ``value`` (any input ``pyproj.CRS.from_user_input`` takes; a CRS is returned as is).

    Raises:
        CRSOptionError: pyproj does not know it (``foo``, ``EPSG:999999``, an empty string); a
            :class:`~rossam_geo.errors.CRSError` naming ``option``.
    """
    import pyproj

    if isinstance(value, pyproj.CRS):
        return value
    if isinstance(value, str) and value.strip():
        try:
            return pyproj.CRS.from_user_input(value)
        except pyproj.exceptions.CRSError:
            pass
    raise CRSOptionError(
        option,
        f"{shorten(value)} is not a CRS pyproj knows; give an EPSG code such as EPSG:4326, a WKT or a PROJ "
        "string",
    )


def parse_scheduler_address(
    address: str, *, option: str = "--scheduler"
) -> tuple[Literal["local"], int] | tuple[Literal["remote"], str]:
    """Split a scheduler value into ``("local", worker count)`` or ``("remote", address)``.

    ``local:N`` (N >= 1) asks for N local worker processes; anything else must be a Dask scheduler address
    with a known protocol and a port (``tcp://10.0.0.5:8786``, ``10.0.0.5:8786``, ``tls://host:8786``). No
    connection is made.

    Raises:
        OptionError: ``local`` without a positive count, an unknown protocol, or an address without a port.
    """
    hint = "give local:N for N local workers, or a scheduler address such as tcp://127.0.0.1:8786"
    text = address.strip() if isinstance(address, str) else ""
    if text == "local" or text.startswith("local:"):
        count = text.partition(":")[2].strip()
        if count.isdigit() and int(count) >= 1:
            return "local", int(count)
        raise OptionError(option, f"{shorten(address)} needs a worker count of 1 or more; {hint}")
    if text:
        from distributed.comm.addressing import parse_address, parse_host_port
        from distributed.comm.registry import get_backend

        try:
            scheme, location = parse_address(text)
            get_backend(scheme)
            if scheme != "inproc":
                parse_host_port(location)
        except (ValueError, TypeError):
            pass
        else:
            return "remote", text
    raise OptionError(option, f"{shorten(address)} is not a scheduler address; {hint}")


def check_download_url(url: str, *, option: str = "--url") -> str:
    """``url`` when it is an ``https://`` or ``http://`` URL with a host, or a ``file://`` URL with a path.

    Raises:
        OptionError: any other value (``notaurl``, ``ftp://...``, ``https:///file``).
    """
    text = url.strip() if isinstance(url, str) else ""
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.hostname:
        return text
    if scheme == "file" and parts.path:
        return text
    raise OptionError(
        option,
        f"{shorten(url)} is not a download URL; give a full https://, http:// or file:// URL, e.g. "
        "https://example.org/weights/sam_vit_b_01ec64.pth",
    )
