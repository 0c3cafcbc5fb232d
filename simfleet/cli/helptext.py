"""How `--help` shows options: a flag takes no value, so it shows no type.

typer 0.29's rich help (with click 8.5) prints every option's type, flags included, so
`--from-beginning <bool>` read as if it took a value and `--from-beginning true` failed. The
plain click help path already leaves flags bare (it asks ``is_flag``); this makes the rich one
ask too. A typer without the method is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["bare_flags"]


def bare_flags() -> None:
    """Show flags (and counters) without a type in the rich help; other options unchanged."""
    from typer.core import TyperOption

    shown: Callable[[Any, Any], str | None] | None = getattr(TyperOption, "display_type_rich", None)
    if shown is None or getattr(shown, "_bare_flags", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        return shown(self, ctx)

    display_type_rich._bare_flags = True  # type: ignore[attr-defined]
    setattr(TyperOption, "display_type_rich", display_type_rich)  # noqa: B010
