"""NOTES.txt works as printed: every Service, port, Secret, variable and CLI flag it names exists."""

from __future__ import annotations

import json
import pathlib
import re
import shlex
import shutil
from urllib.parse import urlsplit

import pytest
from chart import chartlib
from chart.chartlib import NAMESPACE, RELEASE, parse

from ragplane.cli import cmd_ask, cmd_ingest
from ragplane.cli.main import build_parser
from ragplane.runtime.services import GATEWAY

pytestmark = pytest.mark.chart

CLI_SOURCE = chartlib.ROOT / "libs" / "cli" / "src" / "ragplane" / "cli"
# The CLI's default address of each client-facing service the notes forward.
CLI_PORTS = {
    "orchestrator": int(cmd_ask.DEFAULT_ADDR.rpartition(":")[2]),
    "ingest": int(cmd_ingest.DEFAULT_ADDR.rpartition(":")[2]),
}
# The gateway is forwarded to its local stack port, where its examples (README, docs) point.
FORWARDED = CLI_PORTS | {"gateway": GATEWAY.port}
GATEWAY_ROUTES = json.loads((chartlib.ROOT / "services" / "gateway" / "openapi.json").read_text())["paths"]


@pytest.fixture(scope="module")
def chart_with_notes_as_manifest(tmp_path_factory) -> pathlib.Path:
    """A copy of the chart whose NOTES.txt is also rendered into a ConfigMap, which `helm template` prints."""
    root = tmp_path_factory.mktemp("notes") / "ragplane"
    shutil.copytree(chartlib.CHART, root)
    notes = (root / "templates" / "NOTES.txt").read_text()
    (root / "templates" / "_zz_notes.tpl").write_text('{{- define "zz.notes" -}}\n' + notes + "{{- end -}}\n")
    (root / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n"
        '  notes: |\n    {{- include "zz.notes" . | nindent 4 }}\n'
    )
    return root


def _notes_and_manifests(helm, chart: pathlib.Path, scenario: str, *sets: str) -> tuple[str, chartlib.Rendered]:
    args = [
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--values",
        str(chartlib.scenario_file(scenario)),
    ]
    for item in sets:
        args += ["--set", item]
    notes = chartlib.run_helm(helm, *args, "--show-only", "templates/zz-notes.yaml")
    assert notes.returncode == 0, notes.stderr
    text = parse(notes.stdout).get("ConfigMap", "notes")["data"]["notes"]
    return text, parse(chartlib.template(helm, [chartlib.scenario_file(scenario)], sets).stdout)


def _commands(notes: str) -> list[list[str]]:
    """The command lines (indented, as the notes print them to be copied)."""
    return [
        shlex.split(line.strip())
        for line in notes.splitlines()
        if line.startswith("  ") and line.strip().startswith(("kubectl ", "ragplane ", "helm "))
    ]


@pytest.mark.parametrize(
    ("scenario", "sets"),
    [
        ("cpu-dev", ()),  # the dev key
        ("external-kafka-sasl", ()),  # a client-key Secret
        ("cpu-dev", ("global.auth.apiKeys.secretName=client-keys", "global.auth.apiKeys.key=keys.txt")),
    ],
)
def test_every_command_in_the_notes_names_what_the_release_has(helm, chart_with_notes_as_manifest, scenario, sets):
    notes, rendered = _notes_and_manifests(helm, chart_with_notes_as_manifest, scenario, *sets)
    commands = _commands(notes)
    forwarded = {}
    for argv in commands:
        if argv[0] == "kubectl":
            assert argv[1:3] == ["-n", NAMESPACE], argv
        if "port-forward" in argv:
            service = rendered.get("Service", argv[-2].removeprefix("svc/"))
            local, remote = map(int, argv[-1].split(":"))
            assert remote in {p["port"] for p in service["spec"]["ports"]}, argv
            forwarded[service["metadata"]["labels"]["app.kubernetes.io/name"]] = local
        if "secret" in argv:
            # the Secret is the user's, not rendered: its name and key must be the ones the values give
            jsonpath = next(a for a in argv if a.startswith("jsonpath="))
            name, key = argv[argv.index("secret") + 1], re.search(r"\{\.data\.(.+)\}", jsonpath).group(1)
            assert name == _value(scenario, sets, "secretName"), name
            assert key.replace("\\.", ".") == _value(scenario, sets, "key")
    assert forwarded == FORWARDED  # both client-facing services, on the ports the CLI defaults to, and the gateway
    [curl] = [shlex.split(line) for line in notes.splitlines() if line.strip().startswith("curl ")]
    url = urlsplit(next(arg for arg in curl if arg.startswith(("http://", "https://"))))
    assert (url.port, url.path in GATEWAY_ROUTES) == (GATEWAY.port, True), url
    assert curl[curl.index("-H") + 1] == "Authorization: Bearer $RAGPLANE_API_KEY"
    cli = [argv for argv in commands if argv[0] == "ragplane"]
    assert {argv[1] for argv in cli} == {"ingest", "ask"}
    parser = build_parser()
    for argv in cli:
        parser.parse_args(argv[1:])  # every flag exists (argparse exits on an unknown one)
    for variable in set(re.findall(r"\$?(RAGPLANE_[A-Z_]+)", notes)):
        assert any(variable in path.read_text() for path in CLI_SOURCE.glob("*.py")), variable
    if _value(scenario, sets, "secretName"):
        assert "dev-key" not in notes
    else:
        assert "RAGPLANE_API_KEY=dev-key" in notes


def _value(scenario: str, sets: tuple[str, ...], key: str) -> str:
    import yaml

    values = yaml.safe_load(chartlib.scenario_file(scenario).read_text())
    api_keys = values.get("global", {}).get("auth", {}).get("apiKeys", {})
    found = {"secretName": api_keys.get("secretName", ""), "key": api_keys.get("key", "api-keys")}
    for item in sets:
        path, _, value = item.partition("=")
        if path == f"global.auth.apiKeys.{key}":
            found[key] = value
    return found[key]


def test_with_tls_the_notes_pass_the_ca_and_the_server_name(helm, chart_with_notes_as_manifest):
    notes, rendered = _notes_and_manifests(
        helm, chart_with_notes_as_manifest, "cpu-dev", "global.tls.enabled=true", "global.tls.secretName=rp-tls"
    )
    # the gateway over HTTPS: the Service's name resolved to the port-forward, verified with the same CA
    [curl] = [shlex.split(line) for line in notes.splitlines() if line.strip().startswith("curl ")]
    url = urlsplit(next(arg for arg in curl if arg.startswith("https://")))
    assert curl[curl.index("--cacert") + 1] == "ca.crt"
    assert curl[curl.index("--resolve") + 1] == f"{url.hostname}:{url.port}:127.0.0.1"
    assert rendered.get("Service", url.hostname.removesuffix(f".{NAMESPACE}.svc"))
    parser = build_parser()
    for argv in (a for a in _commands(notes) if a[0] == "ragplane"):
        args = parser.parse_args(argv[1:])
        assert args.tls and args.ca == "ca.crt"
        host = args.server_name.removesuffix(f".{NAMESPACE}.svc")
        assert rendered.get("Service", host)


def test_without_the_client_facing_services_the_notes_forward_nothing(helm, chart_with_notes_as_manifest):
    notes, _ = _notes_and_manifests(
        helm,
        chart_with_notes_as_manifest,
        "cpu-dev",
        "orchestrator.enabled=false",
        "ingest.enabled=false",
        "eval.enabled=false",
    )
    assert "port-forward" not in notes
