"""`simctl score`: the scorecard of a downstream model against the labels that have arrived."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from simfleet.capture import BEGINNING, StopRule, capture, consumer_for, match_topics
from simfleet.cli.options import (
    NO_FLAGS,
    Flags,
    JsonOpt,
    build_settings,
    instant,
    kafka_of,
    project_of,
    settings_options,
)
from simfleet.codec import Decoder
from simfleet.domain.mechanisms.label_noise import TRUTH_KIND as NOISE_KIND
from simfleet.domain.pack import Project
from simfleet.domain.spec import DomainSpec
from simfleet.errors import ConfigError, SchemaError
from simfleet.kafka import PRODUCED_AT_HEADER
from simfleet.producers.chaos import plain
from simfleet.recording import Message
from simfleet.scoring import (
    DECISIONS,
    Decision,
    Label,
    Scorecard,
    Subject,
    Targets,
    ground_truth_labels,
    scorecard,
)
from simfleet.settings import KafkaSettings
from simfleet.suggest import did_you_mean
from simfleet.timeutil import format_ms
from simfleet.topology import truth_topic

__all__ = ["LabelPlan", "label_plan", "parse_decision", "score"]

console = Console()


class LabelPlan:
    """Where a domain's labels and their subjects are: the label stream names what it labels
    (``label_of``) and the key both share."""

    def __init__(self, spec: DomainSpec, labels: str) -> None:
        stream = spec.streams[labels]
        assert stream.label_of is not None
        self.domain = spec.domain
        self.labels_topic = spec.topic(labels)
        self.subject_topic = spec.topic(stream.label_of)
        self.key = stream.key


def label_plan(project: Project, domain: str | None) -> LabelPlan:
    """The domain's label stream (``--domain``, or the only domain that has one)."""
    labelled = {
        d: name
        for d in project.domains()
        for name, s in project.spec(d).streams.items()
        if s.label_of is not None
    }
    if domain is None:
        if len(labelled) != 1:
            raise ConfigError(
                "--domain is needed: domains with a label stream: "
                f"{', '.join(labelled) or 'none'}. Name the domain whose labels score the "
                "decisions, e.g. --domain ticketing."
            )
        domain = next(iter(labelled))
    if domain not in project.domains():
        raise ConfigError(
            f"--domain {domain}: no such domain{did_you_mean(domain, project.domains())}. "
            f"Known: {', '.join(project.domains())}."
        )
    if domain not in labelled:
        raise ConfigError(
            f"--domain {domain} has no label stream (a stream with `label_of:`), so there is "
            f"nothing to score against. Domains with labels: {', '.join(labelled) or 'none'}."
        )
    return LabelPlan(project.spec(domain), labelled[domain])


def _valid(score: object, decision: object) -> bool:
    """A score in 0-1 and/or a known decision; at least one of them."""
    if score is None and decision is None:
        return False
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1
    ):
        return False
    return decision is None or decision in DECISIONS


def parse_decision(value: bytes | None, at: int, key: str) -> Decision | None:
    """A decision record's JSON value, or None when it is not one (counted as malformed)."""
    try:
        rec = json.loads(value or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(rec, dict):
        return None
    subject = rec.get(key)
    event_id = rec.get("subject_event_id", rec.get("event_id"))
    score, decision = rec.get("score"), rec.get("decision")
    named = isinstance(subject, str) or isinstance(event_id, str)
    if not named or not _valid(score, decision):
        return None
    return Decision(
        key=subject if isinstance(subject, str) else None,
        event_id=event_id if isinstance(event_id, str) else None,
        score=None if score is None else float(score),
        decision=decision,
        at=at,
    )


def _produced_at(m: Message) -> int | None:
    for k, v in m.headers:
        if k == PRODUCED_AT_HEADER and v:
            try:
                return int(v)
            except ValueError:
                return None
    return None


class _Reader:
    """Decodes what `capture` hands over, per topic."""

    def __init__(self, plan: LabelPlan, decisions_topic: str, decoder: Decoder) -> None:
        self.plan = plan
        self.decisions_topic = decisions_topic
        self.decoder = decoder
        self.subjects: list[Subject] = []
        self.labels: list[Label] = []
        self.decisions: list[Decision] = []
        self.chaos: set[str] = set()
        self.noise: dict[str, tuple[str, str]] = {}  # subject key -> (kind, true pattern)
        self.malformed = 0

    def _decode(self, m: Message) -> dict[str, Any] | None:
        try:
            return plain(self.decoder.decode(m.value or b""))
        except SchemaError:
            return None  # chaos may have corrupted it: not a record a model could decide on

    def __call__(self, m: Message) -> None:
        key = self.plan.key
        if m.topic == self.decisions_topic:
            d = parse_decision(m.value, m.timestamp, key)
            if d is None:
                self.malformed += 1
            else:
                self.decisions.append(d)
            return
        rec = self._decode(m)
        if rec is None:
            return
        if m.topic == self.plan.subject_topic:
            self.subjects.append(
                Subject(
                    str(rec[key]), str(rec["event_id"]), int(rec["occurred_at"]), _produced_at(m)
                )
            )
        elif m.topic == self.plan.labels_topic:
            self.labels.append(
                Label(
                    str(rec[key]),
                    bool(rec["is_fraud"]),
                    str(rec.get("pattern") or "none"),
                    int(rec["occurred_at"]),
                )
            )
        elif rec.get("kind") == "chaos":
            self.chaos.add(str(rec["subject_id"]))
        elif rec.get("kind") == NOISE_KIND:
            self.noise[str(rec["subject_id"])] = (str(rec["label"]), noise_pattern(rec))


def noise_pattern(rec: Mapping[str, Any]) -> str:
    """The pattern a label-noise ground-truth record says its subject had (or empty)."""
    try:
        had = json.loads(str(rec.get("detail") or "{}"))
    except ValueError:
        return ""
    got = had.get("pattern", "") if isinstance(had, dict) else ""
    return "" if got == "none" else str(got)


def read_run(
    kafka: KafkaSettings, project: Project, plan: LabelPlan, decisions: str, idle_s: float
) -> _Reader:
    """Every record of the subject, label, truth and decision topics, drained to idle."""
    reader = _Reader(plan, decisions, Decoder(project.schemas(), kafka.registry_url))
    consumer = consumer_for(kafka)
    try:
        wanted = [plan.subject_topic, plan.labels_topic, truth_topic(plan.domain), decisions]
        topics = match_topics(consumer, wanted)
        missing = [t for t in wanted if t not in topics]
        if missing:
            raise ConfigError(
                f"Topic(s) {', '.join(missing)} not found on {kafka.bootstrap_servers}: "
                "`simctl score` reads the model's --decisions topic beside the domain's "
                "subject, label and ground-truth topics of a run. Check --decisions and "
                "--bootstrap-servers."
            )
        capture(consumer, topics, BEGINNING, StopRule(idle_s=idle_s), reader)
    finally:
        consumer.close()
    return reader


def load_targets(path: Path | None) -> Targets:
    """The pass marks: the seed's, or those of a YAML file (recall, precision, ...)."""
    if path is None:
        return Targets()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Targets.model_validate(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"--targets {path}: cannot read it ({exc}).") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "(top)"
        raise ConfigError(
            f"--targets {path}: field `{field}`: {err['msg']}. Allowed fields: recall, "
            "precision, latency_p99_ms, error_rate, e.g. `recall: 0.9`."
        ) from exc


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "-"
    return f"{x:.1%}" if pct else f"{x:,.0f}"


def render(card: Scorecard, title: str) -> Table:
    """The scorecard as one table: figure, value, target, verdict."""
    t = Table(title=title)
    for col in ("figure", "value", "target", "result"):
        t.add_column(col)
    c = card.confusion
    verdict = {True: "pass", False: "FAIL", None: "n/a"}
    marks = card.targets
    t.add_row("recall", _fmt(c.recall), f">= {marks.recall:.0%}", verdict[card.verdicts["recall"]])
    t.add_row(
        "precision",
        _fmt(c.precision),
        f">= {marks.precision:.0%}",
        verdict[card.verdicts["precision"]],
    )
    t.add_row("F1", _fmt(c.f1), "", "")
    t.add_row("alert rate", _fmt(card.alert_rate), "", "")
    t.add_row("PR-AUC", "-" if card.pr_auc is None else f"{card.pr_auc:.3f}", "", "")
    lat = card.latency_ms
    t.add_row(
        "latency p50 / p95 / p99 / max",
        " / ".join(f"{lat[q]:,.0f} ms" for q in ("p50", "p95", "p99", "max")) if lat else "-",
        f"p99 < {marks.latency_p99_ms:g} ms",
        verdict[card.verdicts["latency_p99_ms"]],
    )
    t.add_row(
        "error rate",
        _fmt(card.error_rate),
        f"< {marks.error_rate:.0%}",
        verdict[card.verdicts["error_rate"]],
    )
    t.add_row(
        "decisions",
        f"{card.decisions:,} for {card.subjects:,} subjects ({card.labelled:,} labelled)",
        "",
        "",
    )
    t.add_row(
        "missing / unknown / malformed / repeated",
        f"{card.missing:,} / {card.unknown:,} / {card.malformed:,} / {card.duplicates:,}",
        "",
        "",
    )
    for pattern, (caught, n) in sorted(card.by_pattern.items()):
        t.add_row(f"recall: {pattern}", f"{_fmt(caught / n)} ({caught}/{n})", "", "")
    if card.chaos.n:
        t.add_row(
            "touched by chaos",
            f"recall {_fmt(card.chaos.recall)}, precision {_fmt(card.chaos.precision)} "
            f"({card.chaos.n} labelled)",
            "",
            "",
        )
    return t


def prequential_table(rows: Iterable[Mapping[str, Any]]) -> Table:
    """How the figures read as labels arrived."""
    t = Table(title="as labels arrived (sim time)")
    for col in ("labels known by", "labelled", "recall", "precision"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            format_ms(int(r["known_by"])),
            f"{r['labelled']:,}",
            _fmt(r["recall"]),
            _fmt(r["precision"]),
        )
    return t


@settings_options("bootstrap", "properties", "config", "pack_dir")
def score(
    decisions: Annotated[
        str,
        typer.Option(
            help="The topic of the model's decisions: JSON records naming the subject (by the "
            "label key, e.g. transaction_id, or event_id) with a `score` in 0-1 and/or a "
            "`decision` (block, review or allow).",
            show_default=False,
        ),
    ],
    domain: Annotated[
        str | None,
        typer.Option(
            help="The domain whose labels score the decisions (default: the only one "
            "with a label stream)."
        ),
    ] = None,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="A score at or above it alerts.")
    ] = 0.5,
    targets: Annotated[
        Path | None,
        typer.Option(
            help="YAML of pass marks: recall, precision, latency_p99_ms, error_rate "
            "(default: 0.95, 0.90, 200, 0.01)."
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="Score what was labelled by this sim instant, ISO UTC (default: every label read)."
        ),
    ] = None,
    idle: Annotated[
        float, typer.Option(min=0.5, help="Stop reading after this many seconds without a record.")
    ] = 3.0,
    out: Annotated[
        Path | None, typer.Option(help="Also write the scorecard as JSON (for `simctl report`).")
    ] = None,
    truth: Annotated[
        str,
        typer.Option(
            help="`labels`: score against the labels, what a bank sees (friendly fraud counts "
            "as fraud, unreported fraud as legitimate); `ground-truth`: against what happened "
            "(the domain's label_noise records on ground truth correct them).",
        ),
    ] = "labels",
    as_json: JsonOpt = False,
    flags: Flags = NO_FLAGS,
) -> None:
    """Score a model's decisions against the labels known so far, and judge them.

    Joins the decisions with the domain's labels (which arrive late: only what is labelled by
    --until counts), reports recall, precision, F1, alert rate, PR-AUC, recall per attack
    pattern and on records chaos touched, decisions missing or for unknown subjects, and the
    latency from each subject's produce time (its `simfleet-produced-at` header) to the
    decision record's timestamp. Exits 1 when a target fails. Example:

        simctl score --decisions fraud.decisions --domain ticketing --out score.json
        simctl score --decisions fraud.decisions --domain ticketing --truth ground-truth
    """
    if truth not in ("labels", "ground-truth"):
        raise ConfigError(
            f"--truth must be `labels` or `ground-truth`, not {truth!r}: `labels` scores "
            "against what a bank sees, `ground-truth` against what happened."
        )
    settings = build_settings(**flags)
    project = project_of(settings)
    plan = label_plan(project, domain)
    marks = load_targets(targets)
    window_end = instant(until, "--until") if until is not None else None
    got = read_run(kafka_of(settings), project, plan, decisions, idle)
    if not got.subjects:
        raise ConfigError(
            f"No {plan.subject_topic} records were read: there is nothing the model could have "
            "decided on. Check --bootstrap-servers, and that the fleet runs this domain."
        )
    labels = got.labels if truth == "labels" else ground_truth_labels(got.labels, got.noise)
    card = scorecard(
        got.subjects,
        labels,
        got.decisions,
        until=window_end,
        threshold=threshold,
        chaos_events=got.chaos,
        malformed=got.malformed,
        targets=marks,
    )
    figures = card.as_dict()
    if out is not None:
        try:
            out.write_text(json.dumps({**figures, "latencies_ms": card.latencies}, indent=1))
        except OSError as exc:
            raise ConfigError(
                f"--out {out}: cannot write the scorecard ({exc.strerror}). Choose a writable path."
            ) from exc
    if as_json:
        typer.echo(json.dumps(figures, indent=1))
    else:
        console.print(render(card, f"simctl score {decisions} ({plan.domain})"))
        if card.prequential:
            console.print(prequential_table(card.prequential))
    if not card.passed:
        failed = [k for k, v in card.verdicts.items() if v is not True]
        typer.echo(f"targets not met: {', '.join(failed)}", err=True)
        raise typer.Exit(1)
    typer.echo("every target met", err=True)
