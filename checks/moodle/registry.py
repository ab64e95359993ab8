"""Moodle check types, merged into checks.registry.CHECK_TYPES (explicit, no scanning).

Each probe module adds one line here: "moodle_<probe>": (Spec, Check).
"""

from __future__ import annotations

from checks.spec import CheckSpec

MOODLE_CHECK_TYPES: dict[str, tuple[type[CheckSpec], type]] = {
}
