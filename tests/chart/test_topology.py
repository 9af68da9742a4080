"""The chart's topology (ragplane.topology in _helpers.tpl) is parsed once per render, and the generic templates
read its flags instead of special-casing workload names."""

from __future__ import annotations

import pathlib
import re
import shutil

import pytest
from chart import chartlib

pytestmark = pytest.mark.chart

TEMPLATES = chartlib.CHART / "templates"
DEFINE = '{{- define "ragplane.topology" -}}\n'
# Bumped each time the topology define runs; the context is the root or a dict holding it under "root".
COUNTER = (
    "{{- $r := .root | default . -}}"
    '{{- $_ := set $r.Values "topologyParses" (add1 ($r.Values.topologyParses | default 0)) -}}\n'
)
# Workload-name tests in a helper: eq/ne .name "x", has .name (list ...), and the same on $name.
NAME_SPECIAL_CASE = re.compile(r'\b(?:eq|ne) (?:\.name|\$name) "|\bhas (?:\.name|\$name) \(list')


def counting_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the chart whose topology define counts its runs, with a template that prints the count last."""
    chart = tmp_path / "ragplane"
    shutil.copytree(chartlib.CHART, chart)
    helpers = chart / "templates" / "_helpers.tpl"
    text = helpers.read_text()
    assert text.count(DEFINE) == 1, "the topology define moved: update this test"
    helpers.write_text(text.replace(DEFINE, DEFINE + COUNTER))
    # helm renders top-level templates in reverse name order, so this one comes after every other.
    (chart / "templates" / "aaa-topology-parses.yaml").write_text(
        "# topology parses: {{ .Values.topologyParses | default 0 }}\n"
    )
    return chart


@pytest.mark.parametrize("scenario", chartlib.SCENARIOS)
def test_topology_is_parsed_once_per_render(helm, tmp_path, scenario):
    chart = counting_copy(tmp_path)
    done = chartlib.run_helm(
        helm,
        "template",
        chartlib.RELEASE,
        str(chart),
        "--namespace",
        chartlib.NAMESPACE,
        "--values",
        str(chartlib.scenario_file(scenario)),
    )
    assert done.returncode == 0, done.stderr
    assert re.findall(r"# topology parses: (\d+)", done.stdout) == ["1"]


def test_generic_templates_read_topology_flags_not_workload_names():
    # _triton.tpl holds Triton's own container; every other helper serves any workload.
    helpers = [p for p in TEMPLATES.rglob("_*.tpl") if p.name != "_triton.tpl"]
    found = [
        f"{p.name}:{n}: {line.strip()}"
        for p in helpers
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if NAME_SPECIAL_CASE.search(line)
    ]
    assert found == []
