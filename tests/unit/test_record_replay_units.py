"""Pure parts of record / replay / diff: pacing on a fake clock, renames, distances, tolerance."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from simfleet.compare import Tolerance, ks_distance, tv_distance
from simfleet.errors import ConfigError
from simfleet.recording import Message, RecordingWriter, open_source
from simfleet.replay import Pacer, Renamer, parse_renames

H = 3_600_000


class FakeClock:
    """A monotonic clock that moves only when waited on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def test_a_recorded_hour_at_speed_10_takes_6_minutes() -> None:
    """An hour of timestamps (one record a second) paced at 10x ends 360 s after the first."""
    clock = FakeClock()
    pacer = Pacer(10.0, clock, clock.wait)
    start = 1_772_409_600_000
    sent_at = []
    for i in range(3601):
        pacer.pace(start + 1000 * i)
        sent_at.append(clock.now)
    assert sent_at[0] == 100.0
    assert sent_at[-1] - sent_at[0] == pytest.approx(360.0)
    # each record goes out exactly when due: gap / speed after the first
    assert np.allclose(np.diff(sent_at), 0.1)


def test_pacing_never_waits_for_late_or_out_of_order_records() -> None:
    """A record timestamped before the last one goes out at once; --max-speed never waits."""
    clock = FakeClock()
    pacer = Pacer(2.0, clock, clock.wait)
    pacer.pace(10_000)
    pacer.pace(14_000)  # due 2 s later
    assert clock.now == pytest.approx(102.0)
    pacer.pace(12_000)  # already due
    assert clock.now == pytest.approx(102.0)
    fast = FakeClock()
    free = Pacer(None, fast, fast.wait)
    for ts in (0, H, 2 * H):
        free.pace(ts)
    assert fast.waits == []


def test_pacer_waits_in_slices_until_due() -> None:
    """A wait that returns early (serving delivery reports) is repeated until due."""
    clock = FakeClock()
    pacer = Pacer(1.0, clock, lambda s: clock.wait(min(s, 0.1)))
    pacer.pace(0)
    pacer.pace(1000)
    assert clock.now == pytest.approx(101.0)
    assert len(clock.waits) >= 10 and max(clock.waits) <= 0.1
    assert sum(clock.waits) == pytest.approx(1.0)


def test_speed_must_be_positive() -> None:
    """--speed 0 is a ConfigError naming the flag."""
    with pytest.raises(ConfigError, match="--speed"):
        Pacer(0.0, FakeClock(), lambda s: None)


def test_renames_exact_and_prefix_then_topic_prefix() -> None:
    """FROM=TO renames one topic, p.*=q.* a prefix; --topic-prefix goes in front of both."""
    r = Renamer(parse_renames(["a.orders=orders", "a.*=b.*"]), "x.")
    assert r("a.orders") == "x.orders"
    assert r("a.payments") == "x.b.payments"
    assert r("c.other") == "x.c.other"
    with pytest.raises(ConfigError, match=r"--rename 'a\.\*=b'"):
        parse_renames(["a.*=b"])
    with pytest.raises(ConfigError, match="FROM=TO"):
        parse_renames(["novalue"])


def test_ks_and_tv_distances() -> None:
    """KS is 0 for one sample against itself, ~the shift for shifted uniforms; TV of tables."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0, 1, 20_000)
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, a + 0.3) == pytest.approx(0.3, abs=0.02)
    assert ks_distance(a, rng.uniform(0, 1, 20_000)) < 0.03
    assert tv_distance(Counter(x=5, y=5), Counter(x=5, y=5)) == 0.0
    assert tv_distance(Counter(x=10), Counter(y=3)) == 1.0
    assert tv_distance(Counter(x=3, y=1), Counter(x=1, y=1)) == pytest.approx(0.25)


def test_tolerance_file_errors_name_the_key(tmp_path: Path) -> None:
    """An unknown key or a wrong type is a ConfigError naming the file and the key."""
    f = tmp_path / "tol.yaml"
    f.write_text("count: 0.2\nks: 0.05\n")
    assert Tolerance.load(f).count == 0.2
    f.write_text("kss: 0.1\n")
    with pytest.raises(ConfigError, match=r"tol.yaml: kss: Extra inputs"):
        Tolerance.load(f)
    f.write_text("count: lots\n")
    with pytest.raises(ConfigError, match="count"):
        Tolerance.load(f)


def test_recording_round_trips_and_detects_a_changed_file(tmp_path: Path) -> None:
    """Every field of a message reads back; a file changed after recording is refused."""
    msgs = [
        Message(
            "t.one", p, o, 1000 + o, 1, b"k%d" % o, b"\xc3\x01" + bytes(8) + b"v", (("h", b"1"),)
        )
        for p in range(2)
        for o in range(5)
    ] + [Message("t.one", 0, 5, 2000, 2, None, None, ())]
    w = RecordingWriter(tmp_path / "rec")
    w.partition_counts.update({"t.one": 2, "t.empty": 1})
    for m in msgs:
        w.write(m)
    manifest = w.close({"stopped_by": "idle"})
    src = open_source(tmp_path / "rec")
    assert list(src.messages("t.one")) == msgs
    assert list(src.messages("t.empty")) == []
    assert src.partition_counts == {"t.one": 2, "t.empty": 1}
    doc = manifest.read_text()
    assert '"fingerprint": "0000000000000000"' in doc and '"schema": null' in doc
    assert not list((tmp_path / "rec").glob("*.partial"))
    path = tmp_path / "rec" / "t.one.avro"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(ConfigError, match="SHA-256"):
        open_source(tmp_path / "rec")
    with pytest.raises(ConfigError, match="already holds a recording"):
        RecordingWriter(tmp_path / "rec")
