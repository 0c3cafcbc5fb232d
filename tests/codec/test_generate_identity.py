"""The bytes a run produces are pinned: SHA-256 digests of small runs of every domain, recorded
on the code as it was, compared with what the code writes now.

Three paths are pinned: ``simctl generate`` to Avro files (every domain, a campaign scenario),
the same with every chaos action (marketplace), and the worker's path (shard batches, not
merged, through the vectorised encoder: values, keys, timestamps per topic). A change that
moves one byte of one record fails here; a deliberate change of output records new digests
(run this file with ``SIMFLEET_PRINT_DIGESTS=1`` and ``-s`` to print them).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import fastavro
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.codec import encoders_for
from simfleet.domain.pack import Project
from simfleet.producers.backfill import backfill
from simfleet.timeutil import parse_instant_ms

START = "2026-03-03T08:00:00Z"
SEED = "11"
CHAOS = Path(__file__).parents[1] / "chaos" / "all-actions.yaml"

# recorded on the code before entity ids were rendered from their index
EXPECTED = {
    "generate_every_domain": "c45d07a3ab58300fcddd32cb88c3506c79b70ca757000ff281fa04fdd6b14683",
    "generate_chaos": "3e01bd90f50fffbd90e633b6f8be9cfd8f9576fa8aff5dec4e9e11e0f6e5763a",
    "encoded_shards": "c0af4f9c392928b2563604f549f0fd55c2888ea44ae8c813ded857532c2f3bdd",
}


def _generate(out: Path, *extra: str) -> None:
    args = ["generate", "--start", START, "--duration", "4h", "--warmup", "1d"]
    args += ["--out", str(out), "--seed", SEED, "--shards", "2", "--format", "avro", *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def _plain(v: object) -> object:
    if isinstance(v, datetime):
        return round(v.timestamp() * 1000)
    raise TypeError(f"unexpected {type(v).__name__} in a decoded record")


def folder_digest(folder: Path) -> tuple[str, int]:
    """SHA-256 over every file's name and records (Avro decoded, in file order; other files
    as bytes, but the Avro files' datum indexes), so container framing (sync markers, block
    sizes) does not count; and how many records were hashed."""
    h = hashlib.sha256()
    records = 0
    for path in sorted(folder.iterdir()):
        if path.name.endswith(".avro.index"):
            continue  # replay's index of an Avro file: derived from the records hashed here
        h.update(path.name.encode() + b"\0")
        if path.suffix != ".avro":
            h.update(path.read_bytes())
            continue
        with path.open("rb") as fh:
            for r in fastavro.reader(fh):
                h.update(json.dumps(r, default=_plain, separators=(",", ":")).encode() + b"\n")
                records += 1
    return h.hexdigest(), records


def _check(name: str, digest: str) -> None:
    if os.environ.get("SIMFLEET_PRINT_DIGESTS"):
        print(f"{name}: {digest}")
    assert digest == EXPECTED[name], f"{name}: the output changed (digest {digest})"


def test_generate_of_every_domain_is_unchanged(tmp_path: Path) -> None:
    """Every domain, 4 sim hours after a day of warm-up, with a campaign scenario (ticketing's
    fraud ring) starting an hour in: the files' records hash to the recorded digest."""
    _generate(tmp_path, "--scale", "0.1", "--scenario", "fraud-attack")
    digest, records = folder_digest(tmp_path)
    assert records > 50_000  # enough traffic that ids of every pool are in it
    _check("generate_every_domain", digest)


def test_generate_with_every_chaos_action_is_unchanged(tmp_path: Path) -> None:
    """Marketplace with every chaos action (corrupt records go to .corrupt.jsonl as hex)."""
    _generate(
        tmp_path,
        "--domain",
        "marketplace",
        "--scale",
        "0.2",
        "--no-external-events",
        "--scenario",
        str(CHAOS),
        "--scenario-at",
        START,
    )
    digest, records = folder_digest(tmp_path)
    assert any(p.name.endswith(".corrupt.jsonl") for p in tmp_path.iterdir())
    assert records > 10_000
    _check("generate_chaos", digest)


def test_encoded_shard_batches_are_unchanged() -> None:
    """The worker's path: each shard's batches (not merged) through the vectorised encoder;
    values, keys and record timestamps hashed per batch, in order."""
    project = Project()
    specs = [project.spec(d) for d in project.domains()]
    encoders = encoders_for(project.schemas(), None)
    t0 = parse_instant_ms(START)
    h = hashlib.sha256()
    events = 0
    for batches in backfill(specs, t0, t0 + 6 * 3_600_000, 11, 0.1, 3, merge=False):
        for b in batches:
            if b.n == 0:
                continue
            buf, offsets = encoders[b.topic].encode(b.columns, b.n)
            h.update(b.topic.encode() + b"\0" + offsets.tobytes() + buf)
            keys = b.keys()  # Kafka keys, as the producer sends them
            h.update(b"".join(b"\xff" if k is None else k + b"\0" for k in keys))
            h.update(b.occurred_at.tobytes())
            events += b.n
    assert events > 50_000
    _check("encoded_shards", h.hexdigest())
