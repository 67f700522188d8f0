"""INI edits that QSettings reads back as the same strings; the expected texts are what Qt 5's QSettings
writes (checked against QSettings under QGIS's Python in tests/qgis_plugin/test_install_into_profile.py)."""

from __future__ import annotations

import pytest

from rossam_geo.qgis_plugin.qsettings_ini import escape_value, remove_section, set_values


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("/home/ann/venv/bin/rossam-geo", "/home/ann/venv/bin/rossam-geo"),
        ("C:\\Users\\ann\\rossam-geo.exe", "C:\\\\Users\\\\ann\\\\rossam-geo.exe"),
        ("/data/J\u00fcrgen/x", "/data/J\\xfcrgen/x"),  # no INI codec in QGIS: non-ASCII as \x escapes
        ("\u00e9a", "\\xe9\\x61"),  # a hex digit after an escape is escaped too
        ("\u00e9,x", '"\\xe9,x"'),  # commas need quotes, or QSettings reads a list
        ("a=b", '"a=b"'),
        (" lead", '" lead"'),
        ("@name", "@@name"),
        ('say "hi"', 'say \\"hi\\"'),
        ("\U0001f600", "\\xd83d\\xde00"),  # UTF-16 surrogates, as QString holds it
        ("", ""),
    ],
)
def test_values_are_escaped_as_qsettings_writes_them(value, written):
    assert escape_value(value) == written


def test_set_values_adds_a_section_and_keeps_other_lines():
    text = '[General]\nfoo=1\n\n[qgis]\nbar="x, y"\n'
    edited = set_values(text, "rossam_geo", {"backend": "/v/bin/rossam-geo", "engine": "box"})
    assert edited == text + "\n[rossam_geo]\nbackend=/v/bin/rossam-geo\nengine=box\n"


def test_set_values_changes_keys_in_place_and_removes_none():
    text = "[rossam_geo]\nbackend=/old\ndevice=cpu\nengine=sam\n\n[zz]\nk=v\n"
    edited = set_values(text, "rossam_geo", {"backend": "/new", "engine": None, "weights": "sam_vit_b"})
    assert edited == "[rossam_geo]\nbackend=/new\ndevice=cpu\nweights=sam_vit_b\n\n[zz]\nk=v\n"


def test_set_values_keeps_windows_line_endings():
    text = "[General]\r\nfoo=1\r\n"
    assert set_values(text, "PythonPlugins", {"rossam_geo_qgis": "true"}) == (
        "[General]\r\nfoo=1\r\n\r\n[PythonPlugins]\r\nrossam_geo_qgis=true\r\n"
    )


def test_remove_section_drops_only_that_section():
    text = "[a]\nx=1\n\n[rossam_geo]\nbackend=/b\n\n[c]\ny=2\n"
    assert remove_section(text, "rossam_geo") == "[a]\nx=1\n\n[c]\ny=2\n"
    assert remove_section(text, "missing") == text


def test_keys_that_would_need_escaping_are_refused():
    with pytest.raises(ValueError, match="needs escaping"):
        set_values("", "rossam_geo", {"a key": "v"})
