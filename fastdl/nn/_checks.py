"""Argument checks shared by modules and model builders."""

from __future__ import annotations


def positive_int(owner: str, name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools refused), else a ValueError naming ``owner``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value!r}")
    return value
