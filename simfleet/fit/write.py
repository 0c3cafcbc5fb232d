"""Writing a pack folder laid out like the project, and validating it.

``PACKDIR/producers/<domain>/streams.yaml``, ``PACKDIR/schemas/<domain>/<stream>.avsc``,
``PACKDIR/scenarios/<domain>/*.yaml``: `simctl generate --pack-dir PACKDIR` reads it as is.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.problems import Problem

__all__ = ["Validate", "check_domain_name", "record_name", "write_pack"]

# what checks a written pack folder (the CLI passes `simctl validate`'s check of it)
Validate = Callable[[Path], list[Problem]]

_DOMAIN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


def check_domain_name(domain: str, out: Path) -> None:
    """A ConfigError unless ``domain`` is a fresh, well-formed domain name."""
    if not _DOMAIN.match(domain):
        raise ConfigError(
            f"--domain {domain!r}: a domain name is 2-40 lower-case letters, digits or "
            "underscores, starting with a letter (it prefixes every topic: shop.order.placed)."
        )
    if domain in Project().domains():
        raise ConfigError(
            f"--domain {domain}: the project already has a domain of that name; domain names "
            "are unique, so choose another (e.g. my_" + domain + ")."
        )
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; give a folder (it is created if missing).")


def record_name(stream: str) -> str:
    """`order.placed` -> `OrderPlaced`: an Avro record name."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", stream) if p]
    name = "".join(p[:1].upper() + p[1:] for p in parts) or "Event"
    return name if name[0].isalpha() else "E" + name


class _Dumper(yaml.SafeDumper):
    pass


def _short(data: Any) -> bool:
    return len(json.dumps(data, default=str)) <= 88


def _flow_lists(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    numbers = all(isinstance(x, int | float) for x in data)
    flow = all(not isinstance(x, dict | list) for x in data) and (numbers or _short(data))
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _flow_small_maps(dumper: yaml.SafeDumper, data: dict[str, Any]) -> Any:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=_short(data))


_Dumper.add_representer(list, _flow_lists)
_Dumper.add_representer(dict, _flow_small_maps)


def dump_yaml(doc: dict[str, Any]) -> str:
    """YAML the way the shipped packs read: short leaves on one line, the rest block style."""
    parts = []
    for k, v in doc.items():
        if isinstance(v, dict) and v:
            body = yaml.dump(v, Dumper=_Dumper, sort_keys=False, width=100)
            parts.append(f"{k}:\n" + "".join(f"  {line}\n" for line in body.splitlines()))
        else:
            parts.append(yaml.dump({k: v}, Dumper=yaml.SafeDumper, sort_keys=False, width=100))
    return "".join(parts)


def write_pack(
    out: Path,
    domain: str,
    pack: dict[str, Any],
    schemas: dict[str, dict[str, Any]],
    scenarios: dict[str, dict[str, Any]],
    header: str,
) -> Path:
    """Write the pack, its schemas and scenarios under ``out``; the streams.yaml path."""
    try:
        pdir = out / "producers" / domain
        sdir = out / "schemas" / domain
        cdir = out / "scenarios" / domain
        for d in (pdir, sdir, cdir):
            d.mkdir(parents=True, exist_ok=True)
        streams = pdir / "streams.yaml"
        streams.write_text(header + dump_yaml(pack), encoding="utf-8")
        for old in sdir.glob("*.avsc"):
            if old.stem not in schemas:  # a stream of an earlier run into the same folder
                old.unlink()
        for stream, schema in schemas.items():
            (sdir / f"{stream}.avsc").write_text(json.dumps(schema, indent=2) + "\n")
        for sid, doc in scenarios.items():
            (cdir / f"{sid}.yaml").write_text(
                yaml.dump(doc, Dumper=yaml.SafeDumper, sort_keys=False, width=100)
            )
    except OSError as exc:
        raise ConfigError(
            f"--out {out}: cannot write the pack ({exc.strerror}). Choose a writable folder."
        ) from exc
    return streams
