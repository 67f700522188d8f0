"""``python -m rossam_geo.cli``: the ``rossam-geo`` command line."""

from __future__ import annotations

from rossam_geo.cli import main

if __name__ == "__main__":
    main(prog_name="rossam-geo")
