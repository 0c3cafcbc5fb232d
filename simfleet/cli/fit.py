"""`simctl fit`: a pack fitted to a recording; `simctl init`: a starter pack from schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from simfleet.domain.pack import Project
from simfleet.errors import ConfigError
from simfleet.problems import Problem

__all__ = ["fit", "init", "validate_pack"]


def validate_pack(out: Path) -> list[Problem]:
    """Every problem `simctl validate --pack-dir OUT` finds in a written pack folder."""
    from simfleet.orchestrator.validate import check_paths

    return check_paths([out], Project([out])).problems


_FIT_HELP = """Fit a pack to a recording, so your own traffic becomes a domain you can steer.

SOURCE is a `simctl record` folder (Kafka timestamps, keys and recorded schemas), a
`simctl generate` folder, or a folder of JSON lines files, one per topic (the topic is the
file's stem; the event time is --time-field, or a field plainly named occurred_at, ts,
timestamp, ...).

Per stream it learns the rate by hour of week (diurnal x weekly, smoothed), each field's law
(categorical tables, lognormal / normal / empirical quantiles, nulls, instants), id fields as
entity pools (size and activity skew) or new ids, and follow-ups: a stream whose id names an
earlier stream's event becomes a chain with a probability and a delay fitted with censoring.
It writes PACKDIR/producers/NAME/streams.yaml, PACKDIR/schemas/NAME/*.avsc (the recorded
schemas, or inferred ones), scenarios NAME-normal and NAME-surge, fit-report.json and
fit-report.html. Rates are the parameters NAME.<stream>.rate and chain probabilities
NAME.<parent>.to.<child>: scenarios move them.

Privacy: no id and no free-text value is copied into the pack. A categorical value is kept
only when seen at least --min-count times (5); rarer values become `other`, and free text is
drawn from made-up values.

Example:

    simctl fit rec/ --domain shop --out mypacks/
    simctl generate --pack-dir mypacks/ --domain shop --start 2026-03-02T00:00:00Z \\
        --duration 1d --out gen/
    simctl fit rec/ --domain shop --out mypacks/ --check     # how close is it?
"""


def fit(
    source: Annotated[
        Path, typer.Argument(help="A recording, a generate folder or a folder of JSON lines.")
    ],
    domain: Annotated[str, typer.Option(help="The new domain's name (prefixes its topics).")],
    out: Annotated[Path, typer.Option(help="Where the pack folder goes (PACKDIR).")],
    time_field: Annotated[
        str | None,
        typer.Option(help="The field holding each event's time (JSON lines).", show_default=False),
    ] = None,
    key_field: Annotated[
        str | None,
        typer.Option(
            help="The field the Kafka key comes from, where a stream has it.", show_default=False
        ),
    ] = None,
    min_count: Annotated[
        int, typer.Option(help="Keep a categorical value only when seen this often (privacy).")
    ] = 5,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Then generate from the pack over the source's span and compare rates per "
            "hour of week, field marginals and chains; exit 1 beyond tolerance.",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the --check run.")] = 0,
) -> None:
    from simfleet.fit.closeness import check_fit
    from simfleet.fit.run import run_fit

    if min_count < 1:
        raise ConfigError(f"--min-count {min_count}: give 1 or more (5 is the default).")
    fitted, topics = run_fit(source, domain, out, time_field, key_field, min_count, validate_pack)
    if check:
        result = check_fit(topics, fitted, domain, out, seed)
        for line in result["problems"]:
            typer.echo(f"off: {line}", err=True)
        if not result["passed"]:
            raise typer.Exit(1)
        typer.echo("check passed: the regenerated traffic is within tolerance", err=True)


fit.__doc__ = _FIT_HELP

_INIT_HELP = """Write a starter pack from Avro schemas: one stream per schema, a flat rate each.

Give a folder of .avsc files (--from-schemas) or a schema registry (--schema-registry URL
with --subjects GLOB; mock:// URLs are read in memory). Keys are the key subject's field or
the first id-like field; fields get generators by type, logical type and name (ids, emails,
IPs, countries, amounts, timestamps, enums); an id field in several schemas becomes one entity
pool. The pack is validated and each guess listed, so you know what to edit.

Example:

    simctl init --from-schemas schemas/ --domain shop --out mypacks/
    simctl generate --pack-dir mypacks/ --domain shop --start 2026-03-02T00:00:00Z \\
        --duration 1h --out gen/
"""


def init(
    domain: Annotated[str, typer.Option(help="The new domain's name (prefixes its topics).")],
    out: Annotated[Path, typer.Option(help="Where the pack folder goes (PACKDIR).")],
    from_schemas: Annotated[
        Path | None, typer.Option(help="A folder of .avsc files.", show_default=False)
    ] = None,
    schema_registry: Annotated[
        str | None, typer.Option(help="A schema registry URL.", show_default=False)
    ] = None,
    subjects: Annotated[
        str, typer.Option(help="With --schema-registry: the value subjects to read.")
    ] = "*-value",
    rate: Annotated[float, typer.Option(help="Events per second of every stream.")] = 1.0,
) -> None:
    from simfleet.fit.init import run_init

    if (from_schemas is None) == (schema_registry is None):
        raise ConfigError(
            "simctl init needs exactly one of --from-schemas DIR (a folder of .avsc files) and "
            "--schema-registry URL (with --subjects GLOB)."
        )
    for line in run_init(domain, out, from_schemas, schema_registry, subjects, rate, validate_pack):
        typer.echo(line)


init.__doc__ = _INIT_HELP
