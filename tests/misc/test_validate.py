"""Option checks made before any work: CRS strings, scheduler addresses, download URLs."""

from __future__ import annotations

import pyproj
import pytest

from rossam_geo.errors import CRSError, InputError
from rossam_geo.validate import check_download_url, parse_crs, parse_scheduler_address, shorten


@pytest.mark.parametrize("value", ["EPSG:4326", "epsg:32633", "+proj=utm +zone=33 +datum=WGS84", "OGC:CRS84"])
def test_crs_strings_pyproj_knows_are_parsed(value: str):
    assert parse_crs(value, option="--prompts-crs") == pyproj.CRS.from_user_input(value)


def test_a_crs_object_passes_through():
    crs = pyproj.CRS.from_epsg(3857)
    assert parse_crs(crs) is crs


@pytest.mark.parametrize("value", ["foo", "EPSG:999999", "", "   "])
def test_unknown_crs_is_one_line_naming_the_option_and_the_remedy(value: str):
    with pytest.raises(CRSError) as caught:
        parse_crs(value, option="--prompts-crs")
    message = str(caught.value)
    assert message == (
        f"--prompts-crs {value!r} is not a CRS pyproj knows; give an EPSG code such as EPSG:4326, a WKT or a "
        "PROJ string"
    )


def test_a_long_bad_value_is_shortened():
    wkt_like = 'GEOGCRS["broken", ' + "x" * 2000
    with pytest.raises(CRSError) as caught:
        parse_crs(wkt_like, option="--output-crs")
    assert len(str(caught.value)) < 200 and "\n" not in str(caught.value)
    assert shorten("a" * 100, 10) == "'aaaaaa..."


@pytest.mark.parametrize(
    ("address", "parsed"),
    [
        ("local:2", ("local", 2)),
        (" local:16 ", ("local", 16)),
        ("tcp://10.0.0.5:8786", ("remote", "tcp://10.0.0.5:8786")),
        ("10.0.0.5:8786", ("remote", "10.0.0.5:8786")),
        ("localhost:8786", ("remote", "localhost:8786")),
        ("tls://scheduler.example:8786", ("remote", "tls://scheduler.example:8786")),
        ("tcp://[::1]:8786", ("remote", "tcp://[::1]:8786")),
    ],
)
def test_scheduler_addresses_are_parsed_without_connecting(address: str, parsed: tuple):
    assert parse_scheduler_address(address) == parsed


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("garbage", "is not a scheduler address"),
        ("tcp://host", "is not a scheduler address"),
        ("tcp://host:port", "is not a scheduler address"),
        ("foo://host:1", "is not a scheduler address"),
        ("", "is not a scheduler address"),
        ("local", "needs a worker count of 1 or more"),
        ("local:0", "needs a worker count of 1 or more"),
        ("local:two", "needs a worker count of 1 or more"),
    ],
)
def test_bad_scheduler_addresses_are_one_line_errors(address: str, why: str):
    with pytest.raises(InputError) as caught:
        parse_scheduler_address(address, option="--scheduler")
    assert str(caught.value).startswith(f"--scheduler {address!r} {why}; give local:N")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["https://example.org/w/sam_vit_b.pth", "http://10.0.0.2:8000/sam.pth", "file:///srv/mirror/sam.pth"],
)
def test_download_urls_are_accepted(url: str):
    assert check_download_url(url) == url


@pytest.mark.parametrize(
    "url", ["notaurl", "ftp://example.org/sam.pth", "https:///sam.pth", "http://", "file://", ""]
)
def test_bad_download_urls_are_one_line_errors(url: str):
    with pytest.raises(InputError, match=rf"^--url {url!r} is not a download URL; give a full https://"):
        check_download_url(url, option="--url")
