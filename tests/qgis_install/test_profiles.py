"""Where QGIS keeps its profiles on each system, and choosing a profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from rossam_geo.errors import InputError
from rossam_geo.qgis_plugin.profiles import default_config_dir, find_profile, profiles_root

HOME = Path("/home/ann")


@pytest.mark.parametrize(
    ("platform", "environ", "expected"),
    [
        ("linux", {}, HOME / ".local/share/QGIS/QGIS3"),
        ("linux", {"XDG_DATA_HOME": "/xdg"}, Path("/xdg/QGIS/QGIS3")),
        ("darwin", {}, HOME / "Library/Application Support/QGIS/QGIS3"),
        (
            "win32",
            {"APPDATA": "/C/Users/ann/AppData/Roaming"},
            Path("/C/Users/ann/AppData/Roaming/QGIS/QGIS3"),
        ),
        ("linux", {"QGIS_CUSTOM_CONFIG_PATH": "/custom"}, Path("/custom")),
    ],
)
def test_default_config_dir_per_system(platform, environ, expected):
    assert default_config_dir(platform, environ, HOME) == expected


def test_profiles_path_is_the_folder_holding_profiles_as_in_qgis(tmp_path):
    assert profiles_root(tmp_path) == tmp_path / "profiles"


def test_default_profile_comes_from_profiles_ini(tmp_path):
    (tmp_path / "profiles" / "default").mkdir(parents=True)
    (tmp_path / "profiles" / "work").mkdir()
    assert find_profile(tmp_path).name == "default"
    (tmp_path / "profiles" / "profiles.ini").write_text("[core]\ndefaultProfile=work\n")
    profile = find_profile(tmp_path)
    assert profile.name == "work"
    assert profile.plugins_dir == tmp_path / "profiles" / "work" / "python" / "plugins"
    assert profile.settings_file == tmp_path / "profiles" / "work" / "QGIS" / "QGIS3.ini"


def test_missing_profiles_folder_says_to_start_qgis_once(tmp_path):
    with pytest.raises(InputError, match="start QGIS once"):
        find_profile(tmp_path)


def test_unknown_profile_lists_the_profiles(tmp_path):
    (tmp_path / "profiles" / "default").mkdir(parents=True)
    with pytest.raises(InputError, match=r"no QGIS profile 'wrok' .*\(profiles: default\); pass --profile"):
        find_profile(tmp_path, "wrok")
