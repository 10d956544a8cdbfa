"""deploy/: the Kubernetes manifests validate against the API schemas and agree with each other."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = "1.30"


def documents() -> dict[str, dict]:
    found = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            found[document["kind"]] = document
    return found


def test_every_manifest_validates_strictly_against_the_kubernetes_schema():
    found = documents()
    assert set(found) == {"Service", "Deployment"}
    for document in found.values():
        kubernetes_validate.validate(document, KUBERNETES, strict=True)  # raises on an unknown or wrong field


def test_the_headless_service_selects_the_replicas_and_readiness_is_tritons():
    service, deployment = documents()["Service"], documents()["Deployment"]
    pod = deployment["spec"]["template"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    [container] = pod["spec"]["containers"]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert {port["targetPort"] for port in service["spec"]["ports"]} == set(ports) == {"http", "grpc", "metrics"}
    assert ports == {"http": 8000, "grpc": 8001, "metrics": 8002}  # Triton's defaults: the command sets no ports
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    command = " ".join(container["args"])
    assert "--model-control-mode=explicit" in command and "--load-model='*'" in command
    repository = next(variable["value"] for variable in container["env"] if variable["name"] == "MODEL_REPOSITORY")
    assert repository.startswith("s3://") and '--model-repository="$MODEL_REPOSITORY"' in command
