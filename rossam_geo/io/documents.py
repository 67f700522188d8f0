"""JSON documents and NumPy arrays read from files, with errors that name the file and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from rossam_geo.errors import InputError


def read_json(path: str | Path, expected: str, error: type[InputError] = InputError) -> Any:
    """Parse a JSON file.

    Args:
        path: the file.
        expected: what the file should be, for the error message (``"a COCO JSON file"``).
        error: the :class:`~rossam_geo.errors.InputError` subclass raised.

    Raises:
        error: the file does not exist, cannot be read, or is not JSON.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"file not found: {path}; check the path") from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {path} as JSON ({exc}); give {expected}") from None


def read_npy(path: str | Path, expected: str, error: type[InputError] = InputError) -> np.ndarray:
    """Load a ``.npy`` array without pickled objects.

    Args:
        path: the file.
        expected: what the array should be, for the error message (``"an (N, 4) box array"``).
        error: the :class:`~rossam_geo.errors.InputError` subclass raised.

    Raises:
        error: the file does not exist, cannot be read, or is not a plain ``.npy`` array.
    """
    path = Path(path)
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except FileNotFoundError:
        raise error(f"file not found: {path}; check the path") from None
    except (OSError, ValueError) as exc:
        raise error(f"cannot read {path} as a .npy array ({exc}); give {expected}") from None
