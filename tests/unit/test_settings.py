"""The settings tree: precedence (flags > SIMCTL_* > config file > defaults), one serialised
object for the fleet's children, and secrets redacted (only secrets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simfleet.cli.main import app
from simfleet.errors import ConfigError
from simfleet.settings import CHILD_ENV, KafkaSettings, Settings, is_secret, redact_url


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIMCTL_SEED", "SIMCTL_SCALE", "SIMCTL_CONFIG", CHILD_ENV, "SIMCTL_SHARDS"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_apply_when_nothing_is_given() -> None:
    s = Settings.build()
    assert (s.seed, s.scale, s.shards, s.speed, s.scenario) == (
        42,
        1.0,
        8,
        60.0,
        None,
    )


@pytest.mark.parametrize("suffix", [".yaml", ".toml"])
def test_flags_beat_environment_beat_config_file_beat_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """seed from the flag, scale from the environment, shards from the file, speed default."""
    cfg = tmp_path / f"simfleet{suffix}"
    body = (
        "seed: 1\nscale: 0.5\nshards: 16\n"
        if suffix == ".yaml"
        else "seed = 1\nscale = 0.5\nshards = 16\n"
    )
    cfg.write_text(body)
    monkeypatch.setenv("SIMCTL_SEED", "2")
    monkeypatch.setenv("SIMCTL_SCALE", "0.25")
    s = Settings.build(config_file=cfg, seed=3)
    assert s.seed == 3  # flag
    assert s.scale == 0.25  # environment over file
    assert s.shards == 16  # file over default
    assert s.speed == 60.0  # default


def test_unknown_keys_in_a_config_file_are_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seeed: 3\n")
    with pytest.raises(ConfigError, match="seeed"):
        Settings.build(config_file=cfg)


def test_a_bad_value_names_the_flag_and_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.build(scale=-1.0)
    assert "--scale / SIMCTL_SCALE" in str(info.value)


def test_children_get_the_same_settings_as_one_serialised_object(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`simctl up` hands its children the tree (and the resolved Kafka, secrets included,
    only through their environment); a child rebuilds exactly the same object."""
    s = Settings.build(
        seed=9, scale=0.3, domains=("marketplace",), pack_dirs=(Path("/x"),), value_format="json"
    )
    kafka = KafkaSettings(
        bootstrap_servers="b:9092",
        properties={"sasl.password": "hunter2", "security.protocol": "SASL_SSL"},  # type: ignore[dict-item]
        value_format="json",
    )
    env = s.child_env(kafka)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    again = Settings.from_child_env()
    assert again is not None
    assert again.model_dump() == s.model_dump(mode="python") | {"bootstrap_servers": "b:9092"}
    from simfleet.settings import child_kafka

    handed = child_kafka()
    assert handed is not None
    assert handed.client_config("producer")["sasl.password"] == "hunter2"
    assert handed.value_format == "json"  # every worker writes the format `up` was given


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("sasl.password", True),
        ("ssl.key.password", True),
        ("ssl.keystore.password", True),
        ("sasl.oauthbearer.client.secret", True),
        ("sasl.jaas.config", True),
        ("basic.auth.user.info", True),
        ("security.protocol", False),
        ("sasl.mechanism", False),
        ("sasl.username", False),
        ("ssl.ca.location", False),
        ("bootstrap.servers", False),
    ],
)
def test_only_secrets_are_secret(key: str, secret: bool) -> None:
    assert is_secret(key) is secret


def test_redacted_shows_every_value_but_the_secrets(tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism: PLAIN\nsasl.username=alice\n"
        "sasl.password=hunter2\n"
    )
    k = KafkaSettings.build("b:9092", props, "https://reg:s3cret@registry.example:8081")
    shown = k.redacted()
    assert shown["security.protocol"] == "SASL_SSL"
    assert shown["sasl.mechanism"] == "PLAIN"  # `key: value` lines are read too
    assert shown["sasl.username"] == "alice"
    assert shown["sasl.password"] == "**********"
    assert shown["schema.registry.url"] == "https://reg:**********@registry.example:8081"
    assert "hunter2" not in json.dumps(shown) and "s3cret" not in json.dumps(shown)
    assert k.registry_url == "https://reg:s3cret@registry.example:8081"


def test_a_malformed_properties_line_never_echoes_a_secret(tmp_path: Path) -> None:
    props = tmp_path / "client.properties"
    props.write_text("sasl.password hunter2\n")
    with pytest.raises(ConfigError) as info:
        KafkaSettings.build("b:9092", props)
    assert "hunter2" not in str(info.value)
    assert f"{props}:1" in str(info.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://localhost:8081", "http://localhost:8081"),
        ("https://u:p@h:1/x", "https://u:**********@h:1/x"),
        ("mock://test", "mock://test"),
    ],
)
def test_registry_urls_lose_their_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_version_and_completion_are_there() -> None:
    r = CliRunner().invoke(app, ["--version"])
    assert r.exit_code == 0 and r.output.startswith("simctl ")
    r = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in r.output


def test_settings_reach_only_the_clients_they_belong_to(tmp_path: Path) -> None:
    """A prefix, a section, or librdkafka's own verdict on an unscoped key scopes a setting."""
    props = tmp_path / "client.properties"
    props.write_text(
        "client.id=fleet\n"
        "linger.ms=5\n"  # producer-only, unscoped: librdkafka says so
        "compression.type=lz4\n"
        "fetch.max.bytes=1000000\n"  # consumer-only, unscoped
        "admin.request.timeout.ms=9000\n"
        "[consumer]\n"
        "auto.offset.reset=earliest\n"
        "[producer]\n"
        "batch.size=65536\n"
    )
    k = KafkaSettings.build("127.0.0.1:9092", props)
    producer, consumer, admin = (k.client_config(r) for r in ("producer", "consumer", "admin"))
    assert producer["linger.ms"] == "5" and producer["batch.size"] == "65536"
    assert "fetch.max.bytes" not in producer and "auto.offset.reset" not in producer
    assert consumer["fetch.max.bytes"] == "1000000"
    assert consumer["auto.offset.reset"] == "earliest"
    assert "linger.ms" not in consumer and "compression.type" not in consumer
    assert admin["request.timeout.ms"] == "9000" and "linger.ms" not in admin
    assert {c["client.id"] for c in (producer, consumer, admin)} == {"fleet"}
    # the scope survives the hand-down to a child process
    child = KafkaSettings(bootstrap_servers="x:1", properties=k.revealed()["properties"])
    assert child.client_config("consumer") | {"bootstrap.servers": None} == consumer | {
        "bootstrap.servers": None
    }


def test_a_consumer_built_from_scoped_settings_logs_no_confwarn(tmp_path: Path) -> None:
    """Producer settings given to every client made 64 CONFWARN lines in 45 s; no more."""
    import logging

    from confluent_kafka import Consumer

    props = tmp_path / "client.properties"
    props.write_text("compression.type=lz4\nlinger.ms=20\nacks=all\n")
    k = KafkaSettings.build("127.0.0.1:1", props)
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    log = logging.getLogger("test.confwarn")
    log.addHandler(Keep())
    log.propagate = False
    c = Consumer({**k.client_config("consumer"), "group.id": "g", "logger": log})
    c.poll(0.1)
    c.close()
    assert not [line for line in lines if "CONFWARN" in line]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe\x00binary\x00\x9c", "is not UTF-8 text"),
        (b"[broker]\nlinger.ms=5\n", "unknown section [broker]"),
    ],
)
def test_unreadable_properties_files_get_one_paragraph(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    props = tmp_path / "bad.properties"
    props.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        KafkaSettings.build("127.0.0.1:9092", props)
    assert needle in str(err.value) and str(props) in str(err.value)
    assert "\n" not in str(err.value)
