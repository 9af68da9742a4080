"""Boot the real images as the chart's pods (cpu-dev), then ingest one document and answer one question.

    .venv/bin/python scripts/deploy_check.py [--scenario cpu-dev] [--tag dev]      (make deploy-check)

The chart is rendered with the real helm; every workload of ours runs from its image
(``localhost/ragplane-<image>:<tag>``, built by ``make images``) with podman, the way its pod would:

- ``--read-only`` root filesystem (and no podman tmpfs of its own on /tmp, /run) when the pod sets
  readOnlyRootFilesystem, ``--user`` the pod's runAsUser:runAsGroup;
- the rendered environment and args (the image's ENTRYPOINT, ``python -m <module>``, unless the manifest gives a
  command); ConfigMap and Secret volumes as read-only ``-v`` mounts at their mount paths (Secrets get generated
  test values); each emptyDir as a ``--tmpfs``; nothing else writable;
- ``--network host``: every listener bound to its own loopback address, with the boot test's substitutions
  (tests/deploy/README.md: cluster names -> loopback, Kafka -> the local broker, Redis -> local servers, Qdrant ->
  qdrant-client's local mode in a mounted folder). The broker, Redis and the DNS server run on this machine.

This reuses tests/deploy (plan.py for the plans and substitutions, harness.py for the stand-ins and SERVING
checks); only how a replica is started differs: a container instead of a process. Prints the timings; exits 1
with the failing containers' last log lines when a workload does not serve or the answer has no citation.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests")]

from chart import chartlib  # noqa: E402
from deploy import harness  # noqa: E402
from deploy.plan import WORKLOAD_KINDS, LocalProcess  # noqa: E402

from ragplane.cli import infra  # noqa: E402

CONTAINERS_CONF = Path(os.environ.get("RAGPLANE_IMAGES_CACHE", "/var/tmp/ragplane-images")) / "containers.conf"
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs"]


def images_of(rendered: chartlib.Rendered) -> dict[str, str]:
    """{workload name: our image it runs} (the repository's last path segment: orchestrator, ingest, ...)."""
    out: dict[str, str] = {}
    for obj in rendered.objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        pod = chartlib.pod_spec(obj)
        name = chartlib.pod_labels(obj).get("app.kubernetes.io/name")
        image = pod["containers"][0]["image"]
        out[name] = image.rsplit("@", 1)[0].rsplit(":", 1)[0].rsplit("/", 1)[-1].removesuffix("-cuda")
    return out


class ContainerDeployment(harness.Deployment):
    """The boot test's Deployment, each replica a container of its image instead of a venv process."""

    tag: str = "dev"
    images: dict[str, str] = {}

    def _spawn(self, local: LocalProcess) -> harness.Replica:
        self._materialize(local)
        the_plan = self.by_name[local.name]
        qdrant = local.env.get("RAGPLANE_QDRANT_URL", "")
        # folders mounted writable (claims, the local Qdrant) belong to the container's user
        owned = [*local.writable, *([Path(qdrant.removeprefix("file://"))] if qdrant.startswith("file://") else [])]
        if local.user is not None:
            for path in owned:
                path.mkdir(parents=True, exist_ok=True)
                os.chown(path, local.user, local.group if local.group is not None else local.user)
        pod_root = str(local.root)

        def pod_path(value: str) -> str:  # the substitutions wrote pod paths under the replica's root
            return value.replace(pod_root, "") if pod_root in value else value

        container = f"ragplane-check-{os.getpid()}-{local.name}-{local.replica}"
        args = [*PODMAN, "run", "--rm", "--name", container, "--network", "host", "--init=false"]
        if the_plan.read_only_root:
            args += ["--read-only", "--read-only-tmpfs=false"]
        if local.user is not None:
            args += ["--user", f"{local.user}:{local.group if local.group is not None else local.user}"]
        for mount in the_plan.mounts:
            if mount.kind in ("configMap", "secret"):
                args += ["--volume", f"{local.root / mount.path.lstrip('/')}:{mount.path}:ro"]
            elif mount.kind == "emptyDir":
                args += ["--tmpfs", f"{mount.path}:rw,mode=1777"]  # the kubelet makes emptyDirs 0777
            else:  # a claim: the folder the harness made for it
                host = local.root / mount.path.lstrip("/")
                args += ["--volume", f"{host}:{mount.path}:{'ro' if mount.read_only else 'rw'}"]
        if qdrant.startswith("file://"):  # qdrant-client's local mode: the same folder inside
            folder = qdrant.removeprefix("file://")
            args += ["--volume", f"{folder}:{folder}:rw"]
        for key, value in local.env.items():
            args += ["--env", f"{key}={pod_path(value)}"]
        argv = [pod_path(a) for a in local.argv]
        argv[0] = "python" if argv[0] == sys.executable else argv[0]
        # the stand-in for Triton or an external LLM server (tests/deploy/README.md) is the model server image
        image = f"localhost/ragplane-{self.images.get(local.name, local.name)}:{self.tag}"
        args += ["--entrypoint", argv[0], image, *argv[1:]]
        log_path = self.logs / f"{local.name}-{local.replica}.log"
        with log_path.open("wb") as log:
            log.write(("$ " + " ".join(args) + "\n").encode())
            log.flush()
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self._containers.append(container)
        return harness.Replica(local, process, log_path, time.monotonic())

    def start(self) -> None:
        self._containers: list[str] = []
        super().start()

    def stop(self) -> None:
        super().stop()
        for container in getattr(self, "_containers", []):
            subprocess.run([*PODMAN, "rm", "--force", "--time", "5", container], capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="cpu-dev", help="a values file of charts/ragplane/ci")
    parser.add_argument("--tag", default="dev", help="tag of the localhost/ragplane-<image> images")
    parser.add_argument("--keep", action="store_true", help="print the log folder and keep it")
    args = parser.parse_args(argv)
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    began = time.monotonic()

    helm = chartlib.install_helm()
    if helm is None:
        print("helm is not installed (make helm)", file=sys.stderr)
        return 2
    rendered = chartlib.parse(chartlib.template(helm, [chartlib.scenario_file(args.scenario)]).stdout)
    images = images_of(rendered)
    missing = sorted(
        {i for i in images.values()}
        - {
            line.removeprefix("localhost/ragplane-").removesuffix(f":{args.tag}")
            for line in subprocess.run(
                [*PODMAN, "images", "--format", "{{.Repository}}:{{.Tag}}"], capture_output=True, text=True
            ).stdout.split()
        }
    )
    if missing:
        print(f"images missing: {', '.join(missing)} (make images)", file=sys.stderr)
        return 2

    from deploy.test_boot import ingest_and_ask  # the boot test's document, questions and checks

    broker = infra.start_broker(log_path=Path("/tmp") / f"ragplane-check-broker-{os.getpid()}.log")
    ContainerDeployment.images = images
    ContainerDeployment.tag = args.tag
    result = None
    try:
        deployment = ContainerDeployment(rendered, broker.address, boot_timeout_s=600)
        try:
            deployment.start()
            booted = time.monotonic()
            doc_id = f"herons-{uuid.uuid4().hex[:8]}"
            result = ingest_and_ask(deployment, doc_id)
            answered = time.monotonic()
            cited = any(c.doc_id == doc_id for c in result.citations)
            summary = {
                "scenario": args.scenario,
                "containers": sorted(r.label for r in deployment.running),
                "boot_s": round(booted - began, 1),
                "ingest_and_answer_s": round(answered - booted, 1),
                "total_s": round(time.monotonic() - began, 1),
                "answer": result.answer.strip()[:300],
                "cited": cited,
            }
            print(json.dumps(summary, indent=2))
            if not (result.answer.strip() and cited):
                print(deployment.tails("generate", "orchestrator"), file=sys.stderr)
                return 1
            return 0
        except (harness.BootFailure, AssertionError) as exc:
            print(f"deploy-check failed after {time.monotonic() - began:.0f}s:\n{exc}", file=sys.stderr)
            return 1
        finally:
            if args.keep:
                keep = Path(f"/tmp/ragplane-check-logs-{os.getpid()}")
                subprocess.run(["cp", "-r", str(deployment.logs), str(keep)], check=False)
                print(f"logs: {keep}", file=sys.stderr)
            deployment.stop()
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
