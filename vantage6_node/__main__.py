"""``python -m vantage6_node --config FILE``: run a node until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from vantage6_node.config import ConfigError, load_config
from vantage6_node.connection import AuthenticationFailed
from vantage6_node.encryption import EncryptionMismatch
from vantage6_node.node import Node, NodeStartError
from vantage6_node.status import FAILED, STARTING, STOPPED, StatusFile

EXIT_CONFIG = 2
EXIT_START = 3


async def _serve(node: Node) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await node.run(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vantage6_node", description=__doc__)
    parser.add_argument("--config", required=True, type=Path, help="node configuration (YAML)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING or ERROR")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")
    parser.add_argument(
        "--status-file",
        type=Path,
        default=None,
        help="keep the node's state in this JSON file (see vantage6_node.status)",
    )
    args = parser.parse_args(argv)
    status = StatusFile(args.status_file)
    status.write(STARTING, "reading the configuration")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status.write(FAILED, str(exc).splitlines()[0], "config")
        return EXIT_CONFIG
    if args.check:
        print(f"{args.config}: configuration is valid")
        return 0
    logging.basicConfig(
        level=(args.log_level or config.log_level).upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
    )
    noisy_loggers = ("socketio.client", "engineio.client", "aiohttp.access", "httpx", "httpcore")
    for noisy in (*noisy_loggers, "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    log = logging.getLogger("vantage6_node")
    try:
        asyncio.run(_serve(Node(config, status=status)))
    except (AuthenticationFailed, EncryptionMismatch, NodeStartError) as exc:
        log.error("cannot start: %s", exc)
        status.write(FAILED, str(exc), _kind(exc))
        return EXIT_START
    except Exception as exc:
        log.exception("the node stopped on an unexpected error")
        status.write(FAILED, f"unexpected error: {type(exc).__name__}: {exc}", "error")
        return 1
    status.write(STOPPED)
    return 0


def _kind(exc: BaseException) -> str:
    if isinstance(exc, AuthenticationFailed):
        return "auth"
    if isinstance(exc, EncryptionMismatch):
        return "encryption"
    return getattr(exc, "kind", "error")


if __name__ == "__main__":
    sys.exit(main())
