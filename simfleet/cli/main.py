"""simctl entry point: one Typer app per command group, joined here.

Only ``SimError`` is caught: its message is printed as one paragraph and its exit code used.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer

from simfleet.cli.helptext import bare_flags
from simfleet.errors import SimError

bare_flags()
app = typer.Typer(
    name="simctl",
    help=(
        "Drive a fleet of Kafka producers that publish realistic, correlated Avro events.\n\n"
        "Start everything on an embedded broker with `simctl up`; steer it with "
        "`simctl scenario start supply-crisis`; read it back with `simctl tail TOPIC`; "
        "make files without a broker with `simctl generate`."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)


def _version(value: bool) -> None:
    if value:
        from simfleet import __version__

        typer.echo(f"simctl {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Drive a fleet of Kafka producers that publish realistic, correlated Avro events."""


def _register() -> None:
    # Imported here so `simctl --help` stays importable even while a group is being built.
    from simfleet.cli import (
        admin,
        analysis,
        broker,
        chaos,
        check,
        control,
        diff,
        fit,
        fleet,
        generate,
        plan,
        record,
        replay,
        report,
        schema,
        score,
        tail,
        up,
        validate,
    )

    app.command("up")(up.up)
    app.add_typer(control.scenario_app, name="scenario")
    app.command("status")(control.status)
    app.command("reset")(control.reset)
    app.command("inject")(control.inject)
    app.command("speed")(control.speed)
    app.command("tail")(tail.tail)
    app.command("topics")(tail.topics)
    app.command("record")(record.record)
    app.command("replay")(replay.replay)
    app.command("diff")(diff.diff)
    app.command("validate")(validate.validate)
    app.command("generate")(generate.generate)
    app.command("check")(check.check)
    app.command("init")(fit.init)
    app.command("fit")(fit.fit)
    app.command("run")(plan.run)
    app.add_typer(chaos.app, name="chaos")
    app.command("report")(report.report)
    app.command("score")(score.score)
    app.command("baseline")(analysis.baseline)
    app.command("explain")(analysis.explain)
    app.add_typer(broker.app, name="broker")
    app.add_typer(fleet.orchestrator_app, name="orchestrator")
    app.add_typer(fleet.worker_app, name="worker")
    app.add_typer(fleet.metrics_app, name="metrics")
    app.add_typer(admin.app, name="admin")
    app.add_typer(schema.app, name="schema")


_register()


def main() -> None:
    """Run simctl; map SimError to a one-paragraph message and its exit code."""
    from simfleet.logs import configure_logging

    configure_logging(level="warning")
    # Ctrl-C (SIGINT) is how a user stops `up`, `record` or `tail`: honour it even when the
    # parent started us with SIGINT ignored (a background job, a test runner's worker)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except SimError as exc:
        from simfleet.logs import logs_json

        if logs_json():  # --log-json: the last line is a JSON object too
            line = json.dumps({"event": "error", "level": "error", "error": str(exc)})
            typer.echo(line, err=True)
        else:
            typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
