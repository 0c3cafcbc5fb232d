"""Avro generate folders with a datum index: the files, the index, and replay's fast reading.

One module-scoped run writes six sim hours of the marketplace (every stream, ground truth) as
Avro with indexes and as JSON lines, from the same batches. The indexed path must give exactly
the messages the decoding path gives, and refuse an index that is not its file's.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import fastavro
import pytest

from simfleet.avrofile import INDEX_SUFFIX, DatumIndex, count_records, index_path
from simfleet.codec import TopicEncoder, encoders_for
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.producers.backfill import backfill
from simfleet.producers.sinks import FileSink
from simfleet.recording import Message, Source, _plain, open_source
from simfleet.topology import key_fields

START_MS = 1_772_431_200_000  # 2026-03-02T06:00:00Z: daytime, busy hours
H = 3_600_000


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same six sim hours written as indexed Avro and as JSON lines."""
    project = Project()
    schemas = project.schemas()
    keys = key_fields(project, ("marketplace",))
    root = tmp_path_factory.mktemp("index")
    sinks = {fmt: FileSink(root / fmt, fmt, schemas, 7, keys) for fmt in ("avro", "jsonl")}
    for batches in backfill(
        project.spec("marketplace"), START_MS, START_MS + 6 * H, 7, 0.3, 2, schemas=schemas
    ):
        for sink in sinks.values():
            sink.write(batches)
    for sink in sinks.values():
        sink.close(True)
    return {fmt: root / fmt for fmt in sinks}


@pytest.fixture(scope="module")
def encoders() -> dict[str, TopicEncoder]:
    return encoders_for(Project().schemas(), None)


def _open(folder: Path, encoders: dict[str, TopicEncoder]) -> Source:
    return open_source(
        folder, encoders=encoders, key_fields=key_fields(Project(), ("marketplace",))
    )


def _all(source: Source) -> dict[str, list[Message]]:
    return {t: list(source.messages(t)) for t in source.topics}


def test_every_avro_file_has_an_index_and_reads_as_the_jsonl_records(
    folders: dict[str, Path],
) -> None:
    """The Avro files (written from columns) hold the JSON lines' records; each has an index."""
    avro = sorted(folders["avro"].glob("*.avro"))
    assert len(avro) == len(list(folders["jsonl"].glob("*.jsonl"))) > 20
    for path in avro:
        assert index_path(path).is_file(), path.name
        with path.open("rb") as fh:
            records = [_plain(r) for r in fastavro.reader(fh)]
        jsonl = folders["jsonl"] / path.name.replace(".avro", ".jsonl")
        assert records == [json.loads(line) for line in jsonl.read_text().splitlines()], path.name
        assert count_records(path) == len(records)
    assert not list(folders["avro"].glob("*.partial"))


def test_indexed_reading_gives_the_decoding_path_messages(
    folders: dict[str, Path], encoders: dict[str, TopicEncoder], tmp_path: Path
) -> None:
    """Datums sent as they lie, framed apart, equal those decoded and encoded again: values,
    keys, timestamps and order, on every topic; and equal the JSON lines folder's."""
    indexed = _open(folders["avro"], encoders)
    plain = tmp_path / "no-index"
    shutil.copytree(folders["avro"], plain, ignore=shutil.ignore_patterns(f"*{INDEX_SUFFIX}"))
    decoded = _open(plain, encoders)
    # the indexed source frames apart (a prefix per chunk); the decoding one encodes whole
    for topic in indexed.topics:
        assert all(c.prefix == encoders[topic].prefix for c in indexed.chunks(topic)), topic
        assert all(c.prefix == b"" for c in decoded.chunks(topic)), topic
    got = _all(indexed)
    assert got == _all(decoded)
    assert got == _all(_open(folders["jsonl"], encoders))
    assert sum(len(m) for m in got.values()) > 5_000


def test_chunks_gather_small_blocks(
    folders: dict[str, Path], encoders: dict[str, TopicEncoder]
) -> None:
    """A topic of many small blocks (one per batch) comes in chunks of thousands of records."""
    source = _open(folders["avro"], encoders)
    topic = max(source.topics, key=lambda t: count_records(folders["avro"] / f"{t}.avro"))
    blocks = list(DatumIndex(index_path(folders["avro"] / f"{topic}.avro")).blocks())
    chunks = list(source.chunks(topic))
    assert len(blocks) > 2 * len(chunks)
    assert sum(len(c.keys) for c in chunks) == sum(len(b.lengths) for b in blocks)
    assert [c.first for c in chunks] == [sum(len(c.keys) for c in chunks[:i]) for i in
                                         range(len(chunks))]  # fmt: skip


def _copy(folders: dict[str, Path], tmp_path: Path) -> Path:
    out = tmp_path / "copy"
    shutil.copytree(folders["avro"], out)
    return out


def _consume(source: Source) -> Iterator[int]:
    for topic in source.topics:
        for c in source.chunks(topic):
            yield len(c.keys)


def test_an_index_of_another_file_is_refused(
    folders: dict[str, Path], encoders: dict[str, TopicEncoder], tmp_path: Path
) -> None:
    """An index beside the wrong file (same schema, other records) names both and the fix."""
    out = _copy(folders, tmp_path)
    other = _copy(folders, tmp_path / "b")
    # the same topic from another seed: same schema and key field, another sync marker
    sink = FileSink(other, "avro", Project().schemas(), 8, key_fields(Project(), ("marketplace",)))
    for batches in backfill(
        Project().spec("marketplace"), START_MS, START_MS + H, 8, 0.3, 2,
        schemas=Project().schemas(),
    ):  # fmt: skip
        sink.write(batches)
    sink.close(True)
    name = "marketplace.booking.requested.avro"
    shutil.copy(index_path(other / name), index_path(out / name))
    with pytest.raises(ConfigError, match=r"booking\.requested\.avro\.index belongs to another"):
        _open(out, encoders)


def test_a_truncated_index_is_refused_with_the_fix(
    folders: dict[str, Path], encoders: dict[str, TopicEncoder], tmp_path: Path
) -> None:
    """An index cut short fails on reading, naming the file and how to do without it."""
    out = _copy(folders, tmp_path)
    idx = index_path(out / "marketplace.customer.search.avro")
    idx.write_bytes(idx.read_bytes()[:-5])
    source = _open(out, encoders)
    with pytest.raises(ConfigError, match=r"customer\.search\.avro\.index.*Delete it"):
        sum(_consume(source))


def test_an_aborted_run_leaves_no_index(tmp_path: Path) -> None:
    """close(complete=False) removes the partial container files and their partial indexes."""
    project = Project()
    sink = FileSink(tmp_path, "avro", project.schemas(), 7, key_fields(project, ("marketplace",)))
    for batches in backfill(
        project.spec("marketplace"), START_MS, START_MS + H, 7, 0.3, 1,
        schemas=project.schemas(),
    ):  # fmt: skip
        sink.write(batches)
    assert list(tmp_path.glob(f"*{INDEX_SUFFIX}.partial"))
    sink.close(False)
    assert list(tmp_path.iterdir()) == []


def test_a_topic_without_a_known_key_field_gets_no_index(tmp_path: Path) -> None:
    """Without key fields the sink writes plain container files; they replay by decoding."""
    project = Project()
    sink = FileSink(tmp_path, "avro", project.schemas(), 7)
    for batches in backfill(
        project.spec("marketplace"), START_MS, START_MS + H, 7, 0.3, 1,
        schemas=project.schemas(),
    ):  # fmt: skip
        sink.write(batches)
    sink.close(True)
    assert list(tmp_path.glob("*.avro"))
    assert not list(tmp_path.glob(f"*{INDEX_SUFFIX}"))
