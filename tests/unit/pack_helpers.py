"""Small packs written to a temporary folder, laid out like the project, and run by backfill."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from simfleet.columns import Batch, FixedStrings, TableStrings
from simfleet.domain.pack import Project
from simfleet.producers.backfill import backfill
from simfleet.scenarios import ScenarioInstance

TS = {"type": "long", "logicalType": "timestamp-millis"}


def write_pack(
    root: Path, domain: str, streams: dict[str, Any], fields: dict[str, dict[str, Any]]
) -> Path:
    """Pack ``domain`` under ``root`` with one schema per entry of ``fields``."""
    pack = root / "producers" / domain
    pack.mkdir(parents=True)
    (pack / "streams.yaml").write_text(
        yaml.safe_dump({"domain": domain, **streams}, sort_keys=False)
    )
    schemas = root / "schemas" / domain
    schemas.mkdir(parents=True)
    for name, fs in fields.items():
        record = {
            "type": "record",
            "name": name.replace(".", "_"),
            "namespace": f"simfleet.{domain}",
            "simfleet.topic": f"{domain}.{name}",
            "fields": [
                {"name": "event_id", "type": "string"},
                {"name": "occurred_at", "type": TS},
                *({"name": k, "type": v} for k, v in fs.items()),
            ],
        }
        (schemas / f"{name}.avsc").write_text(json.dumps(record))
    return pack


def as_arrays(batches: Sequence[Batch]) -> dict[str, dict[str, np.ndarray]]:
    """Every field of every stream as one array (strings as objects)."""
    parts: dict[str, list[Batch]] = {}
    for b in batches:
        parts.setdefault(b.stream, []).append(b)
    out: dict[str, dict[str, np.ndarray]] = {}
    for stream, bs in parts.items():
        cols: dict[str, np.ndarray] = {}
        for name in bs[0].columns:
            arrays = []
            for b in bs:
                c = b.columns[name]
                if isinstance(c, TableStrings):
                    values = np.asarray([*c.table.values, None], dtype=object)
                    arrays.append(values[np.where(c.idx >= 0, c.idx, len(c.table))])
                elif isinstance(c, FixedStrings):
                    null = c.null if c.null is not None else np.zeros(len(c.chars), np.bool_)
                    text = [
                        None if z else bytes(r).decode() for r, z in zip(c.chars, null, strict=True)
                    ]
                    arrays.append(np.asarray(text, dtype=object))
                else:
                    arrays.append(np.asarray(c))
            cols[name] = np.concatenate(arrays)
        out[stream] = cols
    return out


def run_pack(
    root: Path,
    domain: str,
    start: int,
    end: int,
    seed: int = 3,
    shards: int = 2,
    scenarios: Sequence[ScenarioInstance] = (),
    labels_until: int | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """The pack's events between two instants."""
    project = Project(roots=[root], own=False)
    found: list[Batch] = []
    for batches in backfill(
        project.spec(domain),
        start,
        end,
        seed=seed,
        shards=shards,
        schemas=project.schemas(),
        scenarios=scenarios,
        labels_until=labels_until,
    ):
        found.extend(batches)
    return as_arrays(found)
