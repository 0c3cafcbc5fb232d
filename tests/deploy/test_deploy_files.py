"""The container image, the compose fleet and the Helm chart, checked where no Docker engine
or cluster runs: the compose file by the compose-spec parser, the chart rendered by Helm's
own engine (helm-python-sdk) with its manifests checked against the Kubernetes JSON schemas
(kubernetes-validate, strict), the Dockerfile's build context by its COPY lines. The entry
point itself runs in tests/deploy/test_entrypoint_live.py."""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "simfleet"
COMPOSE = ROOT / "docker-compose.fleet.yml"


# -- Dockerfile --------------------------------------------------------------------------------
def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    rows = [line.strip() for line in text.splitlines()]
    return [
        (r.split(None, 1)[0].upper(), r.split(None, 1)[1])
        for r in rows
        if r and not r.startswith("#")
    ]


def _ignored(rel: str) -> bool:
    patterns = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(rel, p) or rel.startswith(p.rstrip("/") + "/") for p in patterns)


def test_every_file_the_dockerfile_copies_is_in_the_build_context() -> None:
    copies = [args for op, args in _instructions() if op == "COPY" and "--from=" not in args]
    sources = [s for args in copies for s in args.split()[:-1] if not s.startswith("--")]
    assert "deploy/entrypoint.sh" in sources and "simfleet" in sources
    for src in sources:
        assert (ROOT / src).exists(), src
        assert not _ignored(src), f"{src} is excluded by .dockerignore"


def test_the_image_runs_simctl_as_a_non_root_user_with_packs_mountable() -> None:
    ops = _instructions()
    final = ops[max(i for i, (op, _) in enumerate(ops) if op == "FROM") :]
    assert final[0][1].startswith("python:3.11-slim")
    (user,) = [a for op, a in final if op == "USER"]
    assert not user.startswith(("0", "root"))
    (entry,) = [json.loads(a) for op, a in final if op == "ENTRYPOINT"]
    assert entry == ["simfleet-entrypoint"]
    assert any(
        op == "COPY" and "deploy/entrypoint.sh /usr/local/bin/simfleet-entrypoint" in a
        for op, a in final
    )
    env = " ".join(a for op, a in final if op == "ENV")
    assert "SIMFLEET_PACKS=/packs" in env


# -- docker-compose.fleet.yml --------------------------------------------------------------------
def _compose() -> dict[str, Any]:
    # PyYAML resolves the anchors and merge keys as Compose does; the parser sees the result
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def test_the_compose_file_is_valid_compose_spec() -> None:
    compose_spec = pytest.importorskip("compose_spec")
    parsed = compose_spec.PyCompose.from_json(json.dumps(_compose()))
    assert set(parsed.service_names()) >= {
        "kafka",
        "schema-registry",
        "orchestrator",
        "worker",
        "admin",
        "prometheus",
        "grafana",
    }
    assert parsed.to_spec().services["worker"].command == ["worker", "--log-json"]


def test_the_compose_spec_parser_refuses_a_broken_file() -> None:
    """The validator is strict: a misspelt key or condition is refused, naming it."""
    compose_spec = pytest.importorskip("compose_spec")
    bad = _compose()
    bad["services"]["worker"]["comand"] = ["worker"]
    with pytest.raises(ValueError, match="comand"):
        compose_spec.PyCompose.from_json(json.dumps(bad))


def test_workers_scale_and_every_mounted_file_exists() -> None:
    services = _compose()["services"]
    worker = services["worker"]
    # `--scale worker=N` needs no fixed name and no host port
    assert "container_name" not in worker and "ports" not in worker
    assert worker["environment"]["SIMCTL_BOOTSTRAP_SERVERS"] == "kafka:19092"
    for svc in services.values():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./") and src != "./packs":
                assert (ROOT / src).exists(), src
    assert "8321" in services["admin"]["ports"][0]
    assert services["admin"]["environment"]["SIMCTL_ADMIN_ALLOWED_HOSTS"] == "admin"
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["admin:8321"]
    assert job["authorization"]["credentials_file"] == "/run/secrets/admin_token"


# -- the Helm chart -------------------------------------------------------------------------------
FULL = {
    "kafka": {
        "bootstrapServers": "kafka.kafka.svc:9092",
        "sasl": {"enabled": True, "username": "fleet", "password": "s3cret"},
    },
    "schemaRegistry": {"url": "https://key:secret@registry.example:8081"},
    "worker": {"replicas": 5},
    "fleet": {"domains": ["ticketing", "marketplace"], "scenario": "fraud-attack"},
    "packs": {
        "scenarios/kiosk/rush.yaml": "id: rush\n",
        "producers/kiosk/streams.yaml": "domain: kiosk\n",
    },
}


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    helm = pytest.importorskip("helm_python")
    out = helm.Chart.load(CHART).render(values, name="sim", namespace="load")
    return [
        doc
        for path, text in sorted(out.items())
        if path.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def _by_name(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


@pytest.mark.parametrize(
    "values",
    [{"kafka": {"bootstrapServers": "kafka:9092"}}, FULL],
    ids=["minimal", "sasl-registry-packs"],
)
def test_the_chart_renders_manifests_valid_against_the_kubernetes_schemas(
    values: dict[str, Any],
) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    docs = _render(values)
    assert docs
    for doc in docs:
        kv.validate(doc, kv.latest_version(), strict=True)


def test_the_kubernetes_schema_check_is_strict() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    worker = _by_name(_render(FULL))["Deployment/sim-simfleet-worker"]
    worker["spec"]["replica"] = 3
    with pytest.raises(kv.ValidationError):
        kv.validate(worker, kv.latest_version(), strict=True)


def test_helm_lint_finds_no_error() -> None:
    helm = pytest.importorskip("helm_python")
    report = helm.lint(CHART, {"kafka": {"bootstrapServers": "kafka:9092"}}, strict=True)
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


def test_the_chart_runs_one_orchestrator_scalable_workers_and_an_admin_service() -> None:
    docs = _by_name(_render(FULL))
    orch = docs["Deployment/sim-simfleet-orchestrator"]
    worker = docs["Deployment/sim-simfleet-worker"]
    admin = docs["Deployment/sim-simfleet-admin"]
    assert orch["spec"]["replicas"] == 1 and orch["spec"]["strategy"]["type"] == "Recreate"
    assert worker["spec"]["replicas"] == 5
    (oc,) = orch["spec"]["template"]["spec"]["containers"]
    assert oc["args"] == ["orchestrator", "--log-json", "--scenario", "fraud-attack"]
    env = {e["name"]: e for e in oc["env"]}
    assert json.loads(env["SIMCTL_DOMAINS"]["value"]) == ["ticketing", "marketplace"]
    assert (
        env["SIMCTL_SCHEMA_REGISTRY_URL"]["valueFrom"]["secretKeyRef"]["name"]
        == "sim-simfleet-registry"
    )
    assert env["SIMCTL_KAFKA_PROPERTIES"]["value"] == "/etc/simfleet/kafka/kafka.properties"
    # the service selects the admin pods
    svc = docs["Service/sim-simfleet-admin"]
    labels = admin["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    (ac,) = admin["spec"]["template"]["spec"]["containers"]
    assert {e["name"] for e in ac["env"]} >= {"SIMCTL_ADMIN_TOKEN", "SIMCTL_ADMIN_ALLOWED_HOSTS"}
    # SASL and the registry in Secrets, never in the pod spec
    kafka = docs["Secret/sim-simfleet-kafka"]["stringData"]["kafka.properties"]
    assert "sasl.password=s3cret" in kafka
    assert "s3cret" not in json.dumps([orch, worker, admin])
    assert "secret@registry" not in json.dumps([orch, worker, admin])
    # the packs' ConfigMap mounts back as a tree at /packs
    cm = docs["ConfigMap/sim-simfleet-packs"]["data"]
    volumes = {v["name"]: v for v in worker["spec"]["template"]["spec"]["volumes"]}
    items = {i["key"]: i["path"] for i in volumes["packs"]["configMap"]["items"]}
    assert items == {k.replace("/", "__"): k for k in FULL["packs"]}
    assert set(cm) == set(items)
    (wc,) = worker["spec"]["template"]["spec"]["containers"]
    assert {m["mountPath"] for m in wc["volumeMounts"]} >= {"/packs", "/var/lib/simfleet", "/tmp"}
    assert worker["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_the_chart_asks_for_the_bootstrap_servers() -> None:
    helm = pytest.importorskip("helm_python")
    with pytest.raises(helm.HelmError, match=re.escape("kafka.bootstrapServers is required")):
        helm.Chart.load(CHART).render({}, name="sim", namespace="load")
