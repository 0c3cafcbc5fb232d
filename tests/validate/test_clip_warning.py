"""`simctl validate` warns when a declared clip (`min`/`max` on a law) truncates more than 1 %
of its law: a journey's tail law (measured exactly, from its CDF) or a stream field's numeric
law (by a seeded sample); the warning names the file, the stream or journey, the field and
the share cut, and leaves the exit code alone. The shipped clickstream pack's clips are rare."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from simfleet.domain.checks import check_pack
from simfleet.domain.mechanisms.clips import pack_warnings
from simfleet.domain.mechanisms.tails import TailLaw, draw_tail, truncated_share
from tests.validate.test_validate import cli, root  # noqa: F401 (a fixture)

PACK = Path(__file__).resolve().parents[2] / "producers" / "clickstream"


def _pack(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    folder = tmp_path / "clickstream"
    shutil.copytree(PACK, folder)
    text = (folder / "streams.yaml").read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    (folder / "streams.yaml").write_text(text)
    return folder


def test_the_shipped_clickstream_clips_are_rare(tmp_path: Path) -> None:
    """The pack's own dwell and page clips cut well under 1 %: no warning."""
    check = check_pack(_pack(tmp_path))
    assert check.spec is not None
    assert pack_warnings(check.spec, check.streams_file) == []


def test_a_dwell_clip_that_cuts_a_range_is_reported(tmp_path: Path) -> None:
    """A dwell clipped at 120 s cuts about 11 % of a lognormal of median 25 s (sigma 1.3):
    one warning, naming the file, the journey's field and the share above `max`."""
    folder = _pack(tmp_path, ("  dwell.max_s: 1500", "  dwell.max_s: 120"))
    check = check_pack(folder)
    assert check.spec is not None and check.problems == []
    (w,) = pack_warnings(check.spec, check.streams_file)
    assert w.file == folder / "streams.yaml"
    assert w.path == "journeys.session.dwell"
    assert "cut 11." in w.message and "above `max`" in w.message


def test_a_field_clip_that_cuts_a_range_is_reported(tmp_path: Path) -> None:
    """A stream field's lognormal clipped below its median: the warning names the stream and
    field and the share (about half) below `min`."""
    folder = _pack(
        tmp_path,
        (
            "amount: {lognormal: [4.0, 0.7], round: 2, min: 5.0",
            "amount: {lognormal: [4.0, 0.7], round: 2, min: 55.0",
        ),
    )
    check = check_pack(folder)
    assert check.spec is not None
    (w,) = pack_warnings(check.spec, check.streams_file)
    assert w.path == "streams.checkout.completed.fields.amount"
    assert "stream checkout.completed field amount" in w.message
    share = float(w.message.split(" cut ")[1].split(" %")[0])
    assert 45 <= share <= 55, w.message


@pytest.mark.parametrize(
    "law",
    [
        TailLaw(lognormal=(3.2, 1.3), min=1, max=120),
        TailLaw(pareto=(1.5, 60), shift=2, max=600),
        TailLaw.model_validate(
            {"mixture": [{"weight": 3, "lognormal": [3, 1]}, {"pareto": [1.2, 60]}], "max": 900}
        ),
    ],
)
def test_the_share_cut_is_exact(law: TailLaw) -> None:
    """The analytic share outside the clips matches a large seeded sample of the law."""
    below, above = truncated_share(law, float)
    x = draw_tail(
        law.model_copy(update={"min": None, "max": None}), np.random.default_rng(3), 400_000, float
    )
    lo = (x < float(law.min)).mean() if law.min is not None else 0.0
    hi = (x > float(law.max)).mean() if law.max is not None else 0.0
    assert abs(below - lo) < 0.003 and abs(above - hi) < 0.003, (below, lo, above, hi)


def test_validate_prints_the_warning_and_exits_0(root: Path) -> None:  # noqa: F811
    """The CLI lists the warning (file, stream, field, share) above a clean summary."""
    streams = root / "producers" / "tiny" / "streams.yaml"
    text = streams.read_text()
    old = "price: {uniform: [20, 60], round: 2}"
    assert old in text
    streams.write_text(text.replace(old, "price: {lognormal: [3.5, 0.5], max: 40, round: 2}"))
    result = CliRunner().invoke(cli(), [str(root)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].endswith(": no problems")
    (warning,) = [line for line in lines if line.startswith("warning: ")]
    assert str(streams) in warning
    assert "streams.lesson.requested.fields.price" in warning
    assert "stream lesson.requested field price cut" in warning
