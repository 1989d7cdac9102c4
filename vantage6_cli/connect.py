"""Logging in to a server for commands that use the REST API (``task``, ``server import``,
``node create-private-key --upload``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


@dataclass
class Login:
    """Who logs in where: the login options of the command line (or their environment
    variables), gathered in the command's context object."""

    server_url: str | None = None
    username: str | None = None
    password: str | None = None
    mfa_code: str | None = None
    private_key: Path | None = None

    def client(self) -> contextlib.AbstractContextManager[Client]:
        """An authenticated client for a ``with`` block (see :func:`logged_in`)."""
        return logged_in(
            self.server_url, self.username, self.password, self.mfa_code, self.private_key
        )


#: hands a command the :class:`Login` its login options filled in
pass_login = click.make_pass_decorator(Login, ensure=True)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and param.name is not None:
        setattr(ctx.ensure_object(Login), param.name, value)
    return value


def _login_option(*decls: str, **attrs: Any) -> Callable[..., Any]:
    """An option whose value goes into the context's :class:`Login`, not into an argument."""
    return click.option(*decls, expose_value=False, callback=_remember, **attrs)


_LOGIN_OPTIONS = (
    _login_option(
        "--server-url",
        envvar="V6_SERVER_URL",
        help="API URL of the server, e.g. http://127.0.0.1:7601/api [env V6_SERVER_URL].",
    ),
    _login_option("--username", "-u", envvar="V6_USERNAME", help="[env V6_USERNAME]"),
    _login_option(
        "--password",
        envvar="V6_PASSWORD",
        help="[env V6_PASSWORD] Asked for in a terminal when not given.",
    ),
    _login_option("--mfa-code", envvar="V6_MFA_CODE", help="Two-factor code, if enabled."),
    _login_option(
        "--private-key",
        envvar="V6_PRIVATE_KEY",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Your organization's private key, for encrypted collaborations [env V6_PRIVATE_KEY].",
    ),
)


def login_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Server URL and login, each also from an environment variable; the command receives
    them as one :class:`Login` (its first argument)."""
    func = pass_login(func)
    for option in reversed(_LOGIN_OPTIONS):
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
