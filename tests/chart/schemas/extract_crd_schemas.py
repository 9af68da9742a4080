"""Extract the openAPIV3Schema of custom resource definitions into tests/chart/schemas/crds/.

The chart renders custom resources (ServiceMonitor, PrometheusRule, KafkaTopic, InferenceService) and infra/
has Strimzi examples; kubernetes-validate only knows built-in kinds, so the tests validate these against the
schemas their operators publish. This script refreshes them from CRD files of upstream checkouts:

    python tests/chart/schemas/extract_crd_schemas.py CRD.yaml [CRD.yaml ...]

Each served version becomes crds/<group>_<version>_<kind>.json.gz (gzip keeps the KServe one, 600 kB of JSON,
small). Record where each came from in README.md beside this file.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import sys

import yaml

OUT = pathlib.Path(__file__).resolve().parent / "crds"


def extract(path: pathlib.Path) -> list[pathlib.Path]:
    written = []
    for doc in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if not doc or doc.get("kind") != "CustomResourceDefinition":
            continue
        spec = doc["spec"]
        for version in spec["versions"]:
            if not version.get("served", True):
                continue
            schema = version["schema"]["openAPIV3Schema"]
            target = OUT / f"{spec['group']}_{version['name']}_{spec['names']['kind']}.json.gz"
            payload = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
            target.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
            written.append(target)
    return written


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    for arg in sys.argv[1:]:
        for target in extract(pathlib.Path(arg)):
            print(target.relative_to(OUT.parent))
