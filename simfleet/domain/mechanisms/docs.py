"""The generated half of ``docs/PACKS.md``: every registered field generator and every
stream- or pack-level mechanism, with why it exists and its keys' descriptions, read from
the models. Regenerate with ``python -m simfleet.domain.mechanisms.docs docs/PACKS.md``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from simfleet.domain.mechanisms.base import FieldSpec, generators
from simfleet.domain.mechanisms.pack import MECHANISMS

__all__ = ["BEGIN", "END", "reference", "updated"]

BEGIN = "<!-- BEGIN GENERATED: python -m simfleet.domain.mechanisms.docs docs/PACKS.md -->"
END = "<!-- END GENERATED -->"


def _doc(model: type[Any]) -> str:
    return " ".join((model.__doc__ or "").split())


def _row(name: str, info: Any) -> str:
    text = " ".join((info.description or "").split()) or "-"
    required = " (required)" if info.is_required() else ""
    return f"| `{name}`{required} | {text.replace('|', '/')} |"


def _table(rows: list[str], head: str = "key") -> list[str]:
    return [f"| {head} | what it is |", "| --- | --- |", *rows] if rows else []


def reference() -> str:
    """The reference section: generators first, then the other mechanisms."""
    common = FieldSpec.model_fields
    out = [
        "## Field generators",
        "",
        "A field is one mapping with exactly one generator key; the key picks the generator. "
        "Every field also takes these modifiers:",
        "",
        *_table([_row(n, f) for n, f in common.items()], "modifier"),
        "",
    ]
    for key, model in generators().items():
        own = {n: f for n, f in model.model_fields.items() if n not in common}
        out += [f"### `{key}`", "", _doc(model), "", f"**Why.** {model.why}", ""]
        out += [*_table([_row(n, f) for n, f in own.items()], "option"), ""]
    out += ["## Stream- and pack-level mechanisms", ""]
    for m in MECHANISMS:
        out += [
            f"### {m.name}",
            "",
            f"Written as `{m.where}`; checked by `{m.checks}`; run by `{m.engine}`.",
            "",
            f"**Why.** {m.why}",
            "",
        ]
        if not m.keys:
            out += [_doc(m.model), ""]
        out += [*_table([_row(n, f) for n, f in m.fields().items()]), ""]
    return "\n".join(out).rstrip() + "\n"


def updated(text: str) -> str:
    """``text`` (PACKS.md) with its generated section replaced by ``reference()``."""
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n\n{reference()}\n{END}{tail}"


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.write_text(updated(target.read_text(encoding="utf-8")), encoding="utf-8")
