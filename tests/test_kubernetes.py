"""The Kubernetes manifests: every overlay builds, validates against a pinned Kubernetes and
passes checkov, and the objects do what docs/deploying.md promises.

There is no cluster here: these checks are static. The runtime behaviour the manifests rely
on (probes, draining, stateless replicas, pooling) is exercised by processes in the variant
tier (tests/test_replicas.py).
"""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.commands import ChecksByContent, assert_succeeded, require_tool, run
from tests.conftest import Render
from tests.variants import ORMS, answer_set, variant_name

#: The Kubernetes version whose schemas every object must match (kubernetes-validate ships
#: them; bump both together in noxfile.py).
KUBERNETES_VERSION = "1.35.0"
OVERLAYS = ("staging", "production")
KUBERNETES_DIR = Path("deploy/kubernetes")

#: What changes the manifests: the services (worker, PgBouncer, Redis in the network
#: policies), auth (the Secret's keys) and the ORM (the migration command).
KUBERNETES_VARIANTS = [
    answer_set("sqlalchemy", auth=True),
    answer_set("sqlmodel", auth=True, services=["redis", "worker", "adminer", "pgbouncer"]),
    answer_set("tortoise", auth=False, services=["redis", "pgbouncer"]),
    answer_set("tortoise", auth=True, services=["redis", "worker"]),
]


def kube_param(answers: dict[str, Any]) -> Any:
    return pytest.param({**answers, "kubernetes": True}, id=variant_name(answers))


@pytest.fixture(params=[kube_param(answers) for answers in KUBERNETES_VARIANTS])
def kube_answers(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(request.param)


@pytest.fixture
def kube_project(render: Render, kube_answers: dict[str, Any]) -> Path:
    return render(**kube_answers)


def kubectl() -> str:
    """kubectl with a Kustomize of v5 or later (Debian's kubernetes-client 1.20 has v2)."""
    path = require_tool("kubectl", "kubectl (https://kubernetes.io/docs/tasks/tools/)")
    version = subprocess.run(  # noqa: S603 - a fixed command
        [path, "version", "--client"], capture_output=True, text=True, check=False
    ).stdout
    kustomize = next(
        (line.split()[-1] for line in version.splitlines() if line.startswith("Kustomize")), ""
    )
    if not kustomize.startswith("v") or int(kustomize[1:].split(".")[0]) < 5:
        pytest.fail(
            f"kubectl at {path} has Kustomize {kustomize or 'unknown'}; the manifests need v5 "
            "or later (kubectl 1.27+)",
            pytrace=False,
        )
    return path


def built_overlay(
    project: Path, overlay: str, destination: Path, *, empty_secret: bool = False
) -> Path:
    """`kubectl kustomize` of one overlay, with its secret.env made from the example.

    With `empty_secret` the Secret has no keys: checkov's secret scan would report the
    example's placeholders, base64-encoded, as high-entropy strings.
    """
    tree = destination / "kubernetes"
    if not tree.exists():
        shutil.copytree(project / KUBERNETES_DIR, tree)
    overlay_dir = tree / "overlays" / overlay
    if empty_secret:
        (overlay_dir / "secret.env").write_text("")
    else:
        shutil.copy(overlay_dir / "secret.env.example", overlay_dir / "secret.env")
    result = run([kubectl(), "kustomize", str(overlay_dir)], destination)
    assert_succeeded(result)
    output = destination / f"{overlay}.yaml"
    output.write_text(result.stdout)
    return output


def objects_of(manifest: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object of a built manifest."""
    return {
        (item["kind"], item["metadata"]["name"]): item
        for item in yaml.safe_load_all(manifest.read_text())
        if item
    }


@pytest.fixture
def production(kube_project: Path, tmp_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return objects_of(built_overlay(kube_project, "production", tmp_path))


def services_of(answers: dict[str, Any]) -> list[str]:
    return list(answers["compose_services"])


# --- the file set ------------------------------------------------------------------------


@pytest.mark.parametrize("orm", ORMS)
def test_without_the_question_no_manifest_is_rendered(render: Render, orm: str) -> None:
    project = render(**answer_set(orm, auth=True, services=["redis", "worker", "pgbouncer"]))

    assert not (project / "deploy").exists()
    assert "kube-deploy" not in (project / "Makefile").read_text()


def test_manifests_of_the_selected_services_only(
    kube_project: Path, kube_answers: dict[str, Any]
) -> None:
    base = kube_project / KUBERNETES_DIR / "base"
    services = services_of(kube_answers)

    assert (base / "worker-deployment.yaml").exists() == ("worker" in services)
    assert (base / "worker-autoscaler.yaml").exists() == ("worker" in services)
    assert (base / "pgbouncer.yaml").exists() == ("pgbouncer" in services)


def test_secrets_live_in_a_git_ignored_file_only(kube_project: Path) -> None:
    """No Secret object and no secret.env is rendered; the overlays generate the Secret."""
    tree = kube_project / KUBERNETES_DIR
    kinds = [
        item["kind"]
        for path in tree.rglob("*.yaml")
        for item in yaml.safe_load_all(path.read_text())
        if item
    ]
    ignored = (kube_project / ".gitignore").read_text().splitlines()

    assert "Secret" not in kinds
    assert list(tree.rglob("secret.env")) == []
    assert "deploy/kubernetes/overlays/*/secret.env" in ignored
    for overlay in OVERLAYS:
        example = (tree / "overlays" / overlay / "secret.env.example").read_text()
        assert "REPLACE_ME" in example


# --- every overlay builds, validates and passes checkov -----------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_objects_match_the_pinned_kubernetes_schemas(
    kube_project: Path, overlay: str, tmp_path: Path
) -> None:
    manifest = built_overlay(kube_project, overlay, tmp_path)
    validate = require_tool("kubernetes-validate", "kubernetes-validate")

    result = run(
        [validate, "--strict", "--kubernetes-version", KUBERNETES_VERSION, str(manifest)],
        tmp_path,
    )

    assert_succeeded(result)
    assert "ERROR" not in result.stdout, result.stdout


def test_checkov_finds_nothing_in_manifests_dockerfile_and_compose(
    render: Render, tmp_path: Path, checks_by_content: ChecksByContent
) -> None:
    """Each skipped check is justified inline, in the annotation of the object it concerns.

    One checkov run reads every answer set's files (it takes seconds to start). checkov has
    no compose framework: its secret scan is what reads compose.yaml.
    """
    checkov = require_tool("checkov", "checkov")
    scanned = tmp_path / "scanned"
    inputs = []
    for answers in KUBERNETES_VARIANTS:
        project = render(**answers, kubernetes=True)
        name = variant_name(answers)
        (scanned / name).mkdir(parents=True)
        for overlay in OVERLAYS:
            built = built_overlay(project, overlay, tmp_path / name, empty_secret=True)
            shutil.copy(built, scanned / name / f"{overlay}.yaml")
        for file in ("Dockerfile", "compose.yaml"):
            shutil.copy(project / file, scanned / name / file)
        inputs += [
            f"{name}/{file}"
            for file in (*(f"{overlay}.yaml" for overlay in OVERLAYS), "Dockerfile", "compose.yaml")
        ]
    files = [arg for name in inputs for arg in ("--file", name)]

    checks_by_content.check(
        [
            checkov,
            "--skip-download",  # offline: no guidelines, no check updates
            "--framework",
            "kubernetes",
            "dockerfile",
            "secrets",
            "--compact",
            "--quiet",
            *files,
        ],
        cwd=scanned,
        inputs=inputs,
    )


# --- what the objects promise -------------------------------------------------------------


def containers_of(item: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = item["spec"]["template"]["spec"]["containers"]
    return containers


def test_api_rolls_out_without_losing_a_ready_pod_and_drains(
    production: dict[tuple[str, str], dict[str, Any]],
) -> None:
    api = production[("Deployment", "my-service-api")]
    pod = api["spec"]["template"]["spec"]
    (container,) = containers_of(api)
    pre_stop_seconds = int(container["lifecycle"]["preStop"]["exec"]["command"][-1])

    assert api["spec"]["replicas"] >= 2
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert container["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert 0 < pre_stop_seconds < pod["terminationGracePeriodSeconds"]
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }


def test_every_pod_runs_locked_down(production: dict[tuple[str, str], dict[str, Any]]) -> None:
    workloads = [item for item in production.values() if item["kind"] in {"Deployment", "Job"}]

    assert workloads
    for item in workloads:
        pod = item["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in containers_of(item):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert set(container["resources"]) == {"requests", "limits"}


def test_api_and_worker_scale_separately_and_the_api_keeps_two_pods(
    production: dict[tuple[str, str], dict[str, Any]], kube_answers: dict[str, Any]
) -> None:
    autoscalers = {
        item["spec"]["scaleTargetRef"]["name"]: item["spec"]
        for item in production.values()
        if item["kind"] == "HorizontalPodAutoscaler"
    }
    budget = production[("PodDisruptionBudget", "my-service-api")]["spec"]
    expected = {"my-service-api"} | (
        {"my-service-worker"} if "worker" in services_of(kube_answers) else set()
    )

    assert set(autoscalers) == expected
    assert autoscalers["my-service-api"]["minReplicas"] >= 2
    assert budget["maxUnavailable"] == 1


def test_migrations_run_as_a_job_and_never_at_app_start(
    production: dict[tuple[str, str], dict[str, Any]], kube_project: Path
) -> None:
    job = production[("Job", "my-service-migrate")]
    (container,) = containers_of(job)
    makefile = (kube_project / "Makefile").read_text()

    assert container["command"][0] in {"alembic", "aerich"}
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for name, item in production.items():
        if item["kind"] == "Deployment":
            assert "command" not in containers_of(item)[0] or "upgrade" not in str(
                containers_of(item)[0]["command"]
            ), name
    assert "kube-migrate: ##" in makefile
    assert "kube-deploy: kube-migrate ##" in makefile


def test_only_the_ingress_reaches_the_api_and_pods_reach_only_their_data_stores(
    production: dict[tuple[str, str], dict[str, Any]], kube_answers: dict[str, Any]
) -> None:
    policies = {
        name: item["spec"] for (kind, name), item in production.items() if kind == "NetworkPolicy"
    }
    services = services_of(kube_answers)
    data_ports = {
        port["port"]
        for rule in policies["my-service-app-to-data-stores"]["egress"]
        for port in rule["ports"]
    }
    pgbouncer_rules = policies["my-service-app-to-data-stores"]["egress"][0].get("to", [])

    assert policies["my-service-default-deny"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policies["my-service-default-deny"]
    (from_ingress,) = policies["my-service-api-from-ingress"]["ingress"]
    assert [port["port"] for port in from_ingress["ports"]] == [8000]
    assert data_ports == {5432} | ({6379} if "redis" in services else set())
    if "pgbouncer" in services:
        assert pgbouncer_rules[0]["podSelector"]["matchLabels"] == {
            "app.kubernetes.io/name": "my-service",
            "app.kubernetes.io/component": "pgbouncer",
        }


def test_pgbouncer_pools_transactions(
    production: dict[tuple[str, str], dict[str, Any]], kube_answers: dict[str, Any]
) -> None:
    if "pgbouncer" not in services_of(kube_answers):
        assert ("Deployment", "my-service-pgbouncer") not in production
        return
    (container,) = containers_of(production[("Deployment", "my-service-pgbouncer")])
    env = {variable["name"]: variable.get("value") for variable in container["env"]}
    config = next(item for (kind, _), item in production.items() if kind == "ConfigMap")

    assert env["POOL_MODE"] == "transaction"
    assert config["data"]["DATABASE_PGBOUNCER"] == "true"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_sets_namespace_image_and_host(
    kube_project: Path, overlay: str, tmp_path: Path
) -> None:
    built = objects_of(built_overlay(kube_project, overlay, tmp_path))
    ingress = built[("Ingress", "my-service-api")]["spec"]
    (api,) = containers_of(built[("Deployment", "my-service-api")])

    assert {item["metadata"]["namespace"] for item in built.values()} == {f"my-service-{overlay}"}
    assert api["image"].startswith("registry.example.com/my-service:")
    assert ingress["rules"][0]["host"] == ingress["tls"][0]["hosts"][0]
    assert ingress["rules"][0]["host"].endswith("my-service.example.com")
