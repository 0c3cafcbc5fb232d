"""The journey mechanism: deterministic by seed, its state survives a pickle round trip
mid-episode, and a broken journey is reported at load, every problem with its field path."""

from __future__ import annotations

import itertools
import pickle
import shutil
from pathlib import Path

from simfleet.codec import Decoder, encoders_for
from simfleet.columns import Batch
from simfleet.domain.checks import check_pack
from simfleet.domain.pack import Project
from simfleet.domain.params import ParamGraph
from simfleet.orchestrator.baseline import count_intervals
from simfleet.producers.engine import ShardEngine

H = 3_600_000
T0 = 1_772_409_600_000
PACK = Path(__file__).resolve().parents[2] / "producers" / "clickstream"


def _ticks(eng: ShardEngine, hours: range) -> list[list[Batch]]:
    graph = ParamGraph.from_domain(eng.domain)
    return [
        eng.tick(T0 + h * H, T0 + (h + 1) * H, graph.evaluate(T0 + h * H, lambda t: []))
        for h in hours
    ]


def _records(ticks: list[list[Batch]]) -> list[tuple[str, list[dict[str, object]]]]:
    return [(b.topic, b.to_records()) for batches in ticks for b in batches]


def test_same_seed_same_episodes_and_a_pickled_engine_resumes_them() -> None:
    """Two engines of one seed give the same events; one pickled mid-episode (sessions open
    across the tick boundary) and restored gives the same next ticks as one never stopped."""
    spec = Project().spec("clickstream")
    a, b = ShardEngine(spec, 1, 4, 9, 0.02), ShardEngine(spec, 1, 4, 9, 0.02)
    first_a, first_b = _ticks(a, range(1)), _ticks(b, range(1))
    assert _records(first_a) == _records(first_b)
    assert a._journeys.pending > 0  # episodes still open at the boundary
    restored = pickle.loads(pickle.dumps(b))
    later = _records(_ticks(a, range(1, 3)))
    assert later == _records(_ticks(restored, range(1, 3)))
    topics = {t for t, _ in later}
    assert {"clickstream.page.closed", "clickstream.session.ended"} <= topics
    assert "clickstream.ground_truth" in topics


def test_a_broken_journey_is_reported_with_its_field_paths(tmp_path: Path) -> None:
    """A misspelt role stream, a gate on a stream no earlier state emits, a timeout shorter
    than a page and a missing parameter: each one problem, naming the field path."""
    folder = tmp_path / "clickstream"
    shutil.copytree(PACK, folder)
    text = (folder / "streams.yaml").read_text()
    for old, new in (
        ("enter: page.viewed", "enter: page.viewd"),
        ("requires: cart.item_added", "requires: checkout.completed"),
        ("idle_timeout: 30m", "idle_timeout: 1m"),
        ("advance: content.advance", "advance: content.advanse"),
    ):
        assert old in text
        text = text.replace(old, new)
    (folder / "streams.yaml").write_text(text)
    found = {p.path: p.message for p in check_pack(folder).problems}
    assert "did you mean `page.viewed`" in found["journeys.session.enter"]
    assert (
        "emits checkout.completed" in found["journeys.session.paths.shopping.states.cart.requires"]
    )
    assert "idle timeout" in found["journeys.session.idle_timeout"]
    assert "content.advance" in found["journeys.session.paths.content.advance"]
    assert len(found) == 4


def test_journey_truth_encodes_for_kafka_and_names_the_path() -> None:
    """The ground-truth batch a journey makes goes through the same columnar encoder as the
    streams: one record per session, keyed by its event id, kind journey, label the path."""
    project = Project()
    spec, schemas = project.spec("clickstream"), project.schemas()
    eng = ShardEngine(spec, 0, 2, 4, 0.02, schemas=schemas)
    truth = [b for b in _ticks(eng, range(1))[0] if b.topic == "clickstream.ground_truth"]
    assert len(truth) == 1
    b = truth[0]
    buf, offsets = encoders_for(schemas, None)[b.topic].encode(b.columns, b.n)
    ends = offsets.tolist()
    dec = Decoder(schemas)
    records = [dec.decode(bytes(buf[a:z])) for a, z in itertools.pairwise(ends)]
    again = _ticks(ShardEngine(spec, 0, 2, 4, 0.02, schemas=schemas), range(1))[0]
    sessions = next(x for x in again if x.topic == "clickstream.session.started")
    assert len(records) == b.n == sessions.n > 0
    assert {r["kind"] for r in records} == {"journey"}
    assert {r["label"] for r in records} <= set(spec.journeys["session"].paths)
    keys = b.keys()  # Kafka keys, one per record
    assert [k.decode() for k in keys if k] == [r["event_id"] for r in records]
    assert all(r["window_end"] > r["window_start"] for r in records)


def test_engine_ground_truth_is_not_counted_as_a_stream() -> None:
    """Journey truth reaches its topic but not the per-stream counts of baselines and live
    metrics: it labels traffic, it is not traffic."""
    spec = Project().spec("clickstream")
    ticks = _ticks(ShardEngine(spec, 0, 2, 3, 0.02), range(2))
    truth = [b for batches in ticks for b in batches if b.topic == "clickstream.ground_truth"]
    assert truth and all(b.is_truth for b in truth)
    counts = count_intervals(ticks, T0, T0 + 2 * H, H)
    assert "clickstream.ground_truth" not in counts.counts
    assert counts.counts["clickstream.page.viewed"].sum() > 0
