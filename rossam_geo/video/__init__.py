"""Satellite video and tracking datasets: frame sources, tracking annotations, per-(frame, track) masks."""

from __future__ import annotations
