"""``ragplane``: the one command for people.

ragplane up | down | status          local stack on loopback (restart SERVICE after a crash)
ragplane ingest PATH...              upload documents (see --help)
ragplane ask "question"              ask the orchestrator
ragplane eval run DATASET            evaluate retrieval and answers
ragplane bench ingest|query|...      benchmarks (tables on screen, JSON saved)
ragplane dlq list|replay TOPIC       dead letters: reasons per partition; replay once the cause is fixed
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ragplane.cli.output import console, err_console, print_json, print_table

# Command modules each provide ``register(subparsers)``; missing modules simply add no command.
COMMAND_MODULES = (
    "ragplane.cli.cmd_ingest",
    "ragplane.cli.cmd_ask",
    "ragplane.cli.cmd_eval",
    "ragplane.cli.cmd_bench",
    "ragplane.cli.cmd_dlq",
)


def _cmd_up(args: argparse.Namespace) -> int:
    from ragplane.cli import stack

    with console.status("starting the local stack") as spinner:
        result = stack.up(timeout_s=args.timeout, progress=lambda msg: spinner.update(msg))
    components = result.components
    if args.json:
        print_json(
            [{"name": c.name, "address": c.address, "pid": c.pid, "metrics_port": c.metrics_port} for c in components]
        )
        return 0
    print_table(
        "ragplane local stack",
        ["component", "address", "metrics", "pid", "log"],
        [
            (c.name, c.address, f"127.0.0.1:{c.metrics_port}" if c.metrics_port else "", c.pid, c.log)
            for c in components
        ],
    )
    if result.lost:
        console.print(
            f"{', '.join(result.lost)} had stopped: the whole stack was started again, all services SERVING. "
            "Documents that were on their way lost their events and are FAILED: ingest them again."
        )
    elif result.already_running:
        console.print("The local stack is already running; nothing started. Stop it with [bold]ragplane down[/bold].")
    elif len(result.started) < len(components):
        console.print(f"Started {', '.join(result.started)}; all services SERVING.")
    else:
        console.print("All services SERVING. Stop with [bold]ragplane down[/bold].")
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    from ragplane.cli import stack

    stopped = stack.down()
    if args.json:
        print_json([{"name": n, "pid": p, "was_running": r} for n, p, r in stopped])
    elif not stopped:
        console.print("nothing to stop")
    else:
        print_table("stopped", ["component", "pid", "was running"], stopped)
    return 0


def _cmd_restart(args: argparse.Namespace) -> int:
    from ragplane.cli import stack

    with console.status(f"restarting {args.service}"):
        component = stack.restart(args.service, timeout_s=args.timeout)
    console.print(f"{component.name} SERVING on {component.address} (pid {component.pid})")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from ragplane.cli import stack

    rows = stack.status()
    missing = stack.missing(rows)
    down = [(c.name, s) for c, s in rows if s not in stack.HEALTHY] + [(name, "MISSING") for name in missing]
    if args.json:
        print_json(
            [{"name": c.name, "address": c.address, "pid": c.pid, "state": s} for c, s in rows]
            + [{"name": name, "address": None, "pid": None, "state": "MISSING"} for name in missing]
        )
    elif not rows:
        console.print(f"the local stack is not running ({', '.join(missing)}): start it with 'ragplane up'")
    else:
        print_table(
            "ragplane status",
            ["component", "address", "pid", "state"],
            [(c.name, c.address, c.pid, s) for c, s in rows] + [(name, "", "", "MISSING") for name in missing],
        )
        if down:
            infra_lost = any(name in stack.INFRA for name, _ in down)
            todo = (
                "'ragplane up' starts the whole stack again" if infra_lost else "'ragplane up' starts what is missing"
            )
            console.print(
                f"not fully up: {', '.join(f'{name} {state}' for name, state in down)}. {todo} "
                f"(logs: {stack.home() / 'logs'})"
            )
    return 1 if down else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragplane", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the local stack and wait until every service is SERVING")
    up.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for SERVING")
    up.add_argument("--json", action="store_true")
    up.set_defaults(func=_cmd_up)
    down = sub.add_parser("down", help="stop exactly what 'ragplane up' started")
    down.add_argument("--json", action="store_true")
    down.set_defaults(func=_cmd_down)
    restart = sub.add_parser("restart", help="start one service of the running local stack again")
    restart.add_argument("service")
    restart.add_argument("--timeout", type=float, default=600.0)
    restart.set_defaults(func=_cmd_restart)
    status = sub.add_parser("status", help="health of every component of the local stack")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_cmd_status)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - a person reads this, not a traceback
        from ragplane.client import ClientError

        code, details = getattr(exc, "code", None), getattr(exc, "details", None)
        if isinstance(exc, ClientError):
            err_console.print(f"[red]error:[/red] {exc.code.name}: {exc.details}")
        elif callable(code) and callable(details):  # a gRPC error of a benchmark's own calls
            err_console.print(f"[red]error:[/red] {code().name}: {details()}")
        else:
            err_console.print(f"[red]error:[/red] {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(main())
