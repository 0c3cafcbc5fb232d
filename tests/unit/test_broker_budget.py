"""The embedded broker's memory budget: a warning at 60 %, a clean stop at 80 %."""

from __future__ import annotations

import pytest

from simfleet.broker.budget import BrokerBudget, default_budget, format_size, parse_size
from simfleet.errors import BrokerError, ConfigError

MIB = 2**20


def test_sizes_read_as_binary_units() -> None:
    assert parse_size("2GB") == 2 * 2**30
    assert parse_size("512MiB") == 512 * MIB
    assert parse_size("1.5G") == int(1.5 * 2**30)
    assert format_size(1.5 * 2**30) == "1.5 GiB"
    for bad in ("lots", "0GB", "-1G", "2 GBs"):
        with pytest.raises(ConfigError, match="is not a size"):
            parse_size(bad)


def test_the_default_is_a_quarter_of_the_machine() -> None:
    assert default_budget(24 * 2**30) == 6 * 2**30


def test_a_warning_once_then_a_stop_with_one_paragraph() -> None:
    now, held = [0.0], [100 * MIB]
    budget = BrokerBudget(
        pid=1, budget=1000 * MIB, read_rss=lambda _pid: held[0], clock=lambda: now[0]
    )
    assert budget.check() == []
    held[0] = 610 * MIB
    assert budget.check() == []  # read at most every 2 s
    now[0] = 2.0
    (warning,) = budget.check()
    assert "61% of its 1,000.0 MiB budget" in warning
    now[0], held[0] = 4.0, 790 * MIB
    assert budget.check() == []  # warned once
    now[0], held[0] = 6.0, 801 * MIB
    with pytest.raises(BrokerError) as err:
        budget.check()
    text = str(err.value)
    assert "holds 801.0 MiB, 80% of its budget" in text and "--broker-memory" in text
    assert "\n" not in text


def test_a_broker_that_is_gone_reads_nothing() -> None:
    budget = BrokerBudget(pid=1, budget=MIB, read_rss=lambda _pid: None)
    assert budget.check() == []
