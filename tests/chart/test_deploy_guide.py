"""docs/deploy.md works for a newcomer: every value it names exists (values.yaml and the schema), its example
values render, and the names, ports and files its commands use exist."""

from __future__ import annotations

import json
import re
import shlex
from functools import cache

import pytest
import yaml
from chart import chartlib

pytestmark = pytest.mark.chart

GUIDE = chartlib.ROOT / "docs" / "deploy.md"
WORKLOADS = (*chartlib.DEPLOYABLES, "modelserver", "triton")


@cache
def _schema() -> dict:
    return json.loads((chartlib.CHART / "values.schema.json").read_text())


@cache
def _defaults() -> dict:
    return yaml.safe_load((chartlib.CHART / "values.yaml").read_text())


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        node = _schema()["definitions"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _free_form(node: dict) -> bool:
    """A map whose keys are the user's (labels, selectors, env, overrides, volume sources)."""
    node = _resolve(node)
    return node.get("type") == "object" and not node.get("properties") and node.get("additionalProperties") is not False


def _schema_has(path: list[str]) -> bool:
    """Whether the schema knows the dotted path (stopping at free-form maps and arrays)."""
    node: dict = _schema()
    for key in path:
        node = _resolve(node)
        if _free_form(node) or node.get("type") == "array" or "oneOf" in node:
            return True
        properties = node.get("properties", {})
        if key not in properties:
            return False
        node = properties[key]
    return True


def _default_has(path: list[str]) -> bool:
    """Whether values.yaml has the path (a free-form map or a leaf ends the walk)."""
    node = _defaults()
    schema: dict = _schema()
    for key in path:
        schema = _resolve(schema)
        if not isinstance(node, dict) or _free_form(schema):
            return True
        if key not in node:
            return False
        node, schema = node[key], schema.get("properties", {}).get(key, {})
    return True


def _exists(path: str) -> bool:
    keys = path.split(".")
    if keys[0] == "<workload>":
        return any(_exists(".".join([w, *keys[1:]])) for w in WORKLOADS)
    if keys[0] == "<system>":
        return any(_exists(".".join([s, *keys[1:]])) for s in ("kafka", "redis", "stateRedis", "qdrant"))
    return _schema_has(keys) and _default_has(keys)


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", GUIDE.read_text(), re.S)


def _flatten(node, prefix: str = ""):
    """Dotted paths of a values snippet (its leaves and the maps it leaves open)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            keys = path.split(".")
            if not _schema_has(keys) or _free_form_at(keys):
                yield path
            else:
                yield from _flatten(value, path)
    elif prefix:
        yield prefix


def _free_form_at(keys: list[str]) -> bool:
    node: dict = _schema()
    for key in keys:
        node = _resolve(node)
        node = node.get("properties", {}).get(key, {})
    node = _resolve(node)
    return _free_form(node) or node.get("type") == "array"


def _named_values() -> set[str]:
    """Value paths the guide names: `a.b.c` in backticks (first key a values block), yaml blocks, --set."""
    text = GUIDE.read_text()
    tops = set(_defaults()) | {"<workload>", "<system>"}
    named = set()
    for code in re.findall(r"`([^`\n]+)`", text):
        for candidate in re.split(r"[\s,=:()]+", code):
            candidate = candidate.strip(".")
            if re.fullmatch(r"[<>\w-]+(\.[\w-]+)+", candidate) and candidate.split(".")[0] in tops:
                named.add(candidate)
    for block in _blocks("yaml"):
        named |= set(_flatten(yaml.safe_load(block)))
    for block in _blocks("sh"):
        named |= {m.group(1) for m in re.finditer(r"--set(?:-string)?[ =]([\w.]+)=", block)}
    return named


def test_the_guide_names_values_at_all():
    named = _named_values()
    assert len(named) > 150, len(named)
    assert {"kafka.topicPrefix", "global.otel.endpoint", "<workload>.grpcRoute.parentRefs", "preset"} <= named


def test_every_value_the_guide_names_exists():
    missing = sorted(path for path in _named_values() if not _exists(path))
    assert not missing, missing


def test_the_checker_notices_a_value_that_does_not_exist():
    assert not _exists("kafka.topics.prefix") and not _exists("<workload>.replicaCount")
    assert _exists("<workload>.ingress.host") and _exists("triton.gpu.tensorParallelSize")


# ---- the steps ----

CLI_DEFAULT_PORTS = {"orchestrator": 50051, "ingest": 50052}


def _example_values() -> list[dict]:
    return [yaml.safe_load(b) for b in _blocks("yaml") if b.startswith("# my-values.yaml")]


def _release(helm, values_files, *sets: str) -> chartlib.Rendered:
    """Render as the guide installs: release ragplane in namespace ragplane."""
    args = ["template", "ragplane", str(chartlib.CHART), "--namespace", "ragplane"]
    for path in values_files:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    done = chartlib.run_helm(helm, *args)
    assert done.returncode == 0, done.stderr
    return chartlib.parse(done.stdout)


def test_the_guides_example_values_install_as_written(helm, tmp_path):
    [example] = _example_values()
    path = tmp_path / "my-values.yaml"
    path.write_text(yaml.safe_dump(example))
    for sets in ((), ("preset=small",)):
        rendered = _release(helm, [path], *sets)
        assert set(chartlib.SERVICES) <= rendered.names()


def _sh_commands() -> list[list[str]]:
    commands = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            line = line.split(" #")[0].strip().rstrip("&").strip()
            if line:
                commands.append(shlex.split(line))
    return commands


def test_the_quick_start_commands_reach_what_the_release_has(helm):
    rendered = _release(helm, [chartlib.scenario_file("cpu-dev")])  # what `skaffold dev -p cpu` installs
    forwarded = {}
    for argv in _sh_commands():
        if "port-forward" in argv:
            service = rendered.get("Service", argv[argv.index("port-forward") + 1].removeprefix("svc/"))
            local, remote = map(int, argv[-1].split(":"))
            assert remote in {p["port"] for p in service["spec"]["ports"]}, argv
            forwarded[service["metadata"]["labels"]["app.kubernetes.io/name"]] = local
    assert forwarded == CLI_DEFAULT_PORTS


def test_the_secrets_the_guide_creates_are_the_ones_the_values_name():
    created = {}
    for argv in _sh_commands():
        if argv[:1] == ["kubectl"] and "secret" in argv and "create" in argv:
            name = argv[argv.index("generic") + 1]
            keys = {a.split("=", 2)[1] for a in argv if a.startswith(("--from-literal=", "--from-file="))}
            created.setdefault(name, set()).update(keys)
    defaults = _defaults()["global"]["auth"]
    for values in [*_example_values(), yaml.safe_load(chartlib.scenario_file("cpu-dev").read_text())]:
        auth = values["global"]["auth"]
        for kind in ("serviceToken", "apiKeys"):
            if kind in auth:
                name = auth[kind]["secretName"]
                assert name in created, (kind, name, created)
                assert auth[kind].get("key", defaults[kind]["key"]) in created[name]


def test_the_files_the_guide_points_to_exist():
    text = GUIDE.read_text()
    missing = []
    for code in set(re.findall(r"`([^`\n]+)`", text)):
        if re.fullmatch(r"(charts|infra|docs|tests|scripts|files|dashboards|ci)/[\w./-]*", code) and "<" not in code:
            candidates = [chartlib.ROOT / code, chartlib.CHART / code]
            if not any(c.exists() for c in candidates):
                missing.append(code)
    assert not missing, missing


def test_the_guides_ragplane_make_and_skaffold_commands_exist():
    from ragplane.cli.main import build_parser

    parser = build_parser()
    makefiles = "".join(p.read_text() for p in [chartlib.ROOT / "Makefile", *(chartlib.ROOT / "mk").glob("*.mk")])
    skaffold = yaml.safe_load((chartlib.ROOT / "skaffold.yaml").read_text())
    profiles = {p["name"] for p in skaffold.get("profiles", [])}
    seen = set()
    for argv in _sh_commands():
        if argv[0] == "ragplane":
            parser.parse_args(argv[1:])  # argparse exits on an unknown command or flag
        elif argv[0] == "make":
            assert re.search(rf"^{re.escape(argv[1])}:", makefiles, re.M), argv
        elif argv[0] == "skaffold" and "-p" in argv:
            assert argv[argv.index("-p") + 1] in profiles, argv
        seen.add(argv[0])
    assert {"ragplane", "make", "skaffold", "kubectl", "helm"} <= seen


def test_the_scenario_table_lists_every_scenario_file():
    section = GUIDE.read_text().split("## Scenarios", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^\| `([\w-]+-values\.yaml)` \|", section, re.M))
    assert listed == {f"{name}-values.yaml" for name in chartlib.SCENARIOS}


def test_every_link_inside_the_guide_has_its_heading():
    text = GUIDE.read_text()
    anchors = {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }
    broken = sorted(set(re.findall(r"\]\(#([\w-]+)\)", text)) - anchors)
    assert not broken, broken
