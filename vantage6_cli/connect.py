"""Logging in to a server for commands that use the REST API (``task``, ``server import``,
``node create-private-key --upload``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from vantage6_cli.errors import CONNECTION, NOT_FOUND, SERVER, USAGE, CliError
from vantage6_client import Client
from vantage6_client.exceptions import (
    ApiError,
    AuthenticationError,
    EncryptionError,
    NotFoundError,
    ServerConnectionError,
    TwoFactorSetupRequired,
    V6ClientError,
)


def login_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Server URL and login, each also from an environment variable."""
    options = [
        click.option(
            "--server-url",
            envvar="V6_SERVER_URL",
            help="API URL of the server, e.g. http://127.0.0.1:7601/api [env V6_SERVER_URL].",
        ),
        click.option("--username", "-u", envvar="V6_USERNAME", help="[env V6_USERNAME]"),
        click.option(
            "--password",
            envvar="V6_PASSWORD",
            help="[env V6_PASSWORD] Asked for in a terminal when not given.",
        ),
        click.option("--mfa-code", envvar="V6_MFA_CODE", help="Two-factor code, if enabled."),
        click.option(
            "--private-key",
            envvar="V6_PRIVATE_KEY",
            type=click.Path(dir_okay=False, path_type=Path),
            help="Your organization's private key, for encrypted collaborations "
            "[env V6_PRIVATE_KEY].",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@contextlib.contextmanager
def logged_in(
    server_url: str | None,
    username: str | None,
    password: str | None,
    mfa_code: str | None = None,
    private_key: Path | None = None,
) -> Iterator[Client]:
    """An authenticated client for the block (the password is asked for in a terminal when
    not given); client exceptions become CliErrors and the client is closed after."""
    if not server_url:
        raise CliError("no server: pass --server-url or set V6_SERVER_URL", USAGE)
    if not username:
        raise CliError("no username: pass --username or set V6_USERNAME", USAGE)
    if not password:
        if sys.stdin.isatty():
            password = click.prompt(f"Password of {username}", hide_input=True, err=True)
        else:
            raise CliError("no password: pass --password or set V6_PASSWORD", USAGE)
    with Client(server_url) as client, api_errors():
        client.authenticate(username, password, mfa_code=mfa_code)
        if private_key is not None:
            client.setup_encryption(private_key)
        yield client


@contextlib.contextmanager
def api_errors() -> Iterator[None]:
    """Turn client exceptions into CliErrors with exit codes."""
    try:
        yield
    except ServerConnectionError as exc:
        raise CliError(str(exc), CONNECTION) from None
    except TwoFactorSetupRequired as exc:
        raise CliError(
            "two-factor authentication must be set up first: add this secret to an "
            f"authenticator app and log in with --mfa-code: {exc.otp_secret} ({exc.qr_uri})",
            SERVER,
        ) from None
    except AuthenticationError as exc:
        raise CliError(f"the server refused: {exc.msg}", SERVER) from None
    except NotFoundError as exc:
        raise CliError(f"not found: {exc.msg}", NOT_FOUND) from None
    except ApiError as exc:
        detail = f" ({exc.errors})" if exc.errors else ""
        raise CliError(f"the server refused: {exc.msg}{detail}", SERVER) from None
    except EncryptionError as exc:
        message = str(exc)
        if "setup_encryption" in message:  # the Python API's wording, not the CLI's
            what = "data" if message.startswith("this data") else "collaboration"
            message = f"this {what} is encrypted and no private key was given"
        raise CliError(
            message,
            USAGE,
            hint="give your organization's private key: --private-key FILE or V6_PRIVATE_KEY",
        ) from None
    except V6ClientError as exc:
        raise CliError(str(exc), SERVER) from None
