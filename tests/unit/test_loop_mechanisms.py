"""The pieces of label noise, unclocked bursts and the closed loop, without generation: burst
schedules (means kept, no phase, the same per seed), the reference detector's rules, labels
turned into ground truth, the effort update, and the flags' bad values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import chisquare
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.cli.report import build_report
from simfleet.cli.score import noise_pattern
from simfleet.codec import encoders_for
from simfleet.domain.mechanisms.bursts import burst_schedule
from simfleet.domain.mechanisms.feedback import ReferenceRules
from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.orchestrator.catalog import get_scenario
from simfleet.producers.checkpoint import CheckpointCodec, ShardState
from simfleet.producers.engine import ShardEngine
from simfleet.producers.engine.feedback import Feedback, ReferenceDetector
from simfleet.producers.ticking import modifiers_at
from simfleet.scenarios import Burst, ScenarioInstance, campaign_windows
from simfleet.scoring import Label, ground_truth_labels
from simfleet.timeutil import parse_instant_ms

MIN = 60_000
H = 3_600_000
EVERY, LENGTH = 15 * MIN, 3 * MIN
SPAN = 40 * 24 * 60 * MIN  # 40 days: about 3,800 bursts


def _schedule(process: str, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    b = Burst(every=EVERY, length=LENGTH, process=process)  # type: ignore[arg-type]
    return burst_schedule(b, 10 * MIN, 10 * MIN + SPAN, np.random.default_rng(seed))


@pytest.mark.parametrize("process", ["jittered", "hawkes"])
def test_point_process_bursts_keep_their_means_and_have_no_phase(process: str) -> None:
    """`every` and `length` are means (within 5 %); onsets folded on the cycle from the
    start are uniform (chi-square p > 0.01); the same seed gives the same schedule."""
    starts, ends = _schedule(process)
    assert len(starts) == pytest.approx(SPAN / EVERY, rel=0.05)
    assert float(np.mean(ends - starts)) == pytest.approx(LENGTH, rel=0.05)
    assert np.all(np.diff(starts) >= 0) and starts[0] >= 10 * MIN
    folded = ((starts - 10 * MIN) // MIN) % 15
    assert chisquare(np.bincount(folded, minlength=15)).pvalue > 0.01
    again = _schedule(process)
    assert np.array_equal(starts, again[0]) and np.array_equal(ends, again[1])
    assert not np.array_equal(starts[:50], _schedule(process, seed=2)[0][:50])


def test_hawkes_bursts_cluster_and_clock_bursts_keep_their_phase() -> None:
    """Hawkes gaps vary more than a Poisson process's (coefficient of variation above 1: a
    burst makes the next likelier soon); the clock puts every burst at minute 0 of its cycle."""
    starts, _ = _schedule("hawkes")
    gaps = np.diff(starts)
    assert gaps.std() / gaps.mean() > 1.1
    clock, ends = _schedule("clock")
    assert set(((clock - 10 * MIN) // MIN) % 15) == {0}
    assert np.all(ends - clock == LENGTH)


def test_a_burst_process_is_validated_by_name() -> None:
    with pytest.raises(ValueError, match="process"):
        Burst(every=EVERY, length=LENGTH, process="poisson")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="excitation"):
        Burst(every=EVERY, length=LENGTH, process="hawkes", excitation=1.0)


def test_the_reference_detector_blocks_velocity_per_device_or_ip() -> None:
    """examples/velocity_detector.py's rule: 4 of 5 from one device (score 0.8) or 7 of 8
    from one IP within 10 minutes block; a quiet window forgets; state carries across calls."""
    det = ReferenceDetector(ReferenceRules(limits={"device_id": 5, "ip_address": 8}))
    devices: list[str | None] = ["d1"] * 4 + ["d2"]
    ips: list[str | None] = ["i1"] * 5
    assert det.decide({"device_id": devices, "ip_address": ips}, [0, 1, 2, 3, 4]) == [
        False,
        False,
        False,
        True,
        False,
    ]
    # the next tick: d1 again within the window still blocks; after 10 quiet minutes not
    assert det.decide({"device_id": ["d1"], "ip_address": [None]}, [5]) == [True]
    assert det.decide({"device_id": ["d1"], "ip_address": [None]}, [20 * MIN]) == [False]


def test_efforts_move_toward_the_tactic_that_passes_and_keep_their_mean() -> None:
    """Multiplicative weights: after an hour at pass rates 0.1 and 0.9 with learning rate 1.5,
    efforts are 2 x e^(-/+0.6) / (e^-0.6 + e^0.6), mean one."""
    spec = Project().spec("ticketing")
    assert spec.feedback is not None
    fb = Feedback(spec.feedback, spec, 1, 0, "reference", None)
    fb.logw = {("r", "a"): 1.5 * (0.1 - 0.5), ("r", "b"): 1.5 * (0.9 - 0.5)}
    e = fb._efforts("r", ["a", "b"])
    lo, hi = np.exp(-0.6), np.exp(0.6)
    assert e["a"] == pytest.approx(2 * lo / (lo + hi))
    assert e["b"] == pytest.approx(2 * hi / (lo + hi))
    assert sum(e.values()) == pytest.approx(2)
    fb.logw = {("r", "a"): -50.0, ("r", "b"): 0.0}
    assert min(fb._efforts("r", ["a", "b"]).values()) > 0.04  # the floor: a ring keeps probing


def test_ground_truth_labels_correct_friendly_and_unreported() -> None:
    labels = [
        Label("t1", True, "friendly", 10),
        Label("t2", False, "none", 20),
        Label("t3", True, "card_testing", 30),
        Label("t4", False, "none", 40),
    ]
    noise = {"t1": ("friendly", ""), "t2": ("unreported", "card_testing"), "t4": ("unreported", "")}
    got = ground_truth_labels(labels, noise)
    assert got == [
        Label("t1", False, "none", 10),
        Label("t2", True, "card_testing", 20),
        labels[2],
        Label("t4", True, "unreported", 40),
    ]
    assert noise_pattern({"detail": '{"is_fraud": "true", "pattern": "bot_scalping"}'}) == (
        "bot_scalping"
    )
    assert noise_pattern({"detail": '{"pattern": "none"}'}) == ""
    assert noise_pattern({"detail": "not json"}) == ""


def test_bad_truth_and_feedback_values_are_refused_with_the_fix(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["score", "--decisions", "d", "--truth", "bank"])
    assert res.exit_code == 1
    assert isinstance(res.exception, ConfigError) and "ground-truth" in str(res.exception)
    base = ["generate", "--start", "2026-03-02T00:00:00Z", "--duration", "1h"]
    base += ["--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, [*base, "--domain", "ticketing", "--feedback", "fraud.dec"])
    assert isinstance(res.exception, ConfigError) and "reference" in str(res.exception)
    res = CliRunner().invoke(app, [*base, "--domain", "marketplace", "--feedback", "reference"])
    assert isinstance(res.exception, ConfigError) and "feedback:" in str(res.exception)


def test_the_report_plots_pass_rate_per_tactic_from_adaptation_records() -> None:
    """`simctl report` has a closed-loop chart when ground truth holds adaptations, none
    otherwise."""
    events = {"ticketing.payment.attempted": [{"occurred_at": 1_000 * i} for i in range(10)]}
    truth = [
        {
            "kind": "adaptation",
            "label": tactic,
            "window_end": 3_600_000 * h,
            "detail": f'{{"attempts": 10, "effort": {e}, "pass_rate": {p}}}',
        }
        for h, (tactic, e, p) in enumerate(
            [("card_testing", 0.6, 0.1), ("account_takeover", 1.4, 0.9)] * 2, 1
        )
    ]
    page = build_report("t", events, truth, None, {})
    assert "loop-chart" in page and "account_takeover: pass rate" in page
    assert "loop-chart" not in build_report("t", events, [], None, {})


def test_a_shard_with_the_loop_restored_from_its_checkpoint_continues_byte_for_byte() -> None:
    """The loop's state (its random stream, the detector's windows, the label noise's
    stream) travels in a shard's checkpoint: restored just before the attack, a ticketing
    shard under fraud-attack with `reference` feedback goes on exactly like the original.

    Cut mid-attack, it does not, with or without the loop (also on the code before it): a
    checkpoint refers to the pools' attribute codes instead of copying them, so the persona
    a campaign gives its new actors is lost on restore. That gap is the checkpoint's."""
    project = Project()
    spec = project.spec("ticketing")
    schemas = project.schemas()
    encoders = encoders_for(schemas, None)
    start = parse_instant_ms("2026-03-02T00:00:00Z")
    inst = ScenarioInstance(spec=get_scenario("fraud-attack", project), started_at=start + 2 * H)
    windows = campaign_windows(inst)

    def engine() -> ShardEngine:
        return ShardEngine(spec, 0, 2, 7, 0.2, schemas=schemas, feedback="reference")

    def run(eng: ShardEngine, t0: int, t1: int) -> list[bytes]:
        out: list[bytes] = []
        for t in range(t0, t1, H):
            params = project.graph("ticketing").evaluate(t, modifiers_at(()))
            acting = [w for w in windows if w.start < t + H and w.end > t]
            for b in eng.tick(t, t + H, params, acting):
                buf, offsets = encoders[b.topic].encode(b.columns, b.n)
                out += [b.topic.encode() + buf[offsets[i] : offsets[i + 1]] for i in range(b.n)]
        return out

    original = engine()
    run(original, start, start + 2 * H)
    codec = CheckpointCodec({"ticketing": spec}, encoders)
    blob = codec.dump(ShardState(0, start + 2 * H, [original], {}, None, 0))
    restored = codec.load(blob, [engine()]).engines[0]
    after = run(original, start + 2 * H, start + 9 * H)
    assert any(b.startswith(b"ticketing.ground_truth") for b in after)
    assert run(restored, start + 2 * H, start + 9 * H) == after
