"""The checkpoint registry: names, files, URLs and only published checksums."""

from __future__ import annotations

import dataclasses

import pytest

from rossam_geo.errors import WeightsError
from rossam_geo.weights import REGISTRY, entry_for_filename, get_entry


def test_registry_holds_the_six_official_checkpoints():
    assert list(REGISTRY) == [
        "sam_vit_b",
        "sam_vit_l",
        "sam_vit_h",
        "sam_hq_vit_b",
        "sam_hq_vit_l",
        "sam_hq_vit_h",
    ]
    for name, entry in REGISTRY.items():
        assert entry.name == name
        assert entry.url.endswith("/" + entry.filename)


def test_sam_entries_carry_the_published_hashes_and_size():
    b, large, h = REGISTRY["sam_vit_b"], REGISTRY["sam_vit_l"], REGISTRY["sam_vit_h"]
    assert (b.filename, b.sha256, b.size_bytes) == (
        "sam_vit_b_01ec64.pth",
        "ec2df62732614e57411cdcf32a23ffdf28910380d03139ee0f4fcbe91eb8c912",
        375_042_383,
    )
    assert (large.filename, large.sha256, large.size_bytes) == (
        "sam_vit_l_0b3195.pth",
        "3adcc4315b642a4d2101128f611684e8734c41232a17c648ed1693702a49a622",
        None,
    )
    assert (h.filename, h.sha256, h.size_bytes) == (
        "sam_vit_h_4b8939.pth",
        "a7bf3b02f3ebf1267aba913ff637d9a2d5c33d3173bb679e46d9f338c26f262e",
        None,
    )
    assert b.url == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert {e.family for e in (b, large, h)} == {"sam"}
    assert (b.arch, large.arch, h.arch) == ("vit_b", "vit_l", "vit_h")


@pytest.mark.parametrize("arch", ["vit_b", "vit_l", "vit_h"])
def test_hq_sam_entries_have_no_invented_hash(arch):
    entry = REGISTRY[f"sam_hq_{arch}"]
    assert entry.filename == f"sam_hq_{arch}.pth"
    assert entry.url == f"https://huggingface.co/lkeab/hq-sam/resolve/main/sam_hq_{arch}.pth"
    assert entry.sha256 is None and entry.size_bytes is None
    assert not entry.hash_published
    assert (entry.family, entry.arch) == ("hq-sam", arch)


def test_entries_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        REGISTRY["sam_vit_b"].sha256 = "0" * 64  # type: ignore[misc]


def test_lookup_by_name_or_file_name():
    assert get_entry("sam_vit_h") is REGISTRY["sam_vit_h"]
    assert get_entry("sam_hq_vit_l.pth") is REGISTRY["sam_hq_vit_l"]
    assert entry_for_filename("sam_vit_b_01ec64.pth") is REGISTRY["sam_vit_b"]
    assert entry_for_filename("model.safetensors") is None
    with pytest.raises(WeightsError, match="unknown weights 'vit_b'; choose one of: sam_vit_b, sam_vit_l"):
        get_entry("vit_b")
