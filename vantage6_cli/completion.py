"""``v6 completion``: shell completion scripts for bash, zsh and fish."""

from __future__ import annotations

import os
from pathlib import Path

import click
from click.shell_completion import get_completion_class

from vantage6_cli import output
from vantage6_cli.errors import USAGE, CliError

SHELLS = ("bash", "zsh", "fish")
INSTALL = {
    "bash": 'add to ~/.bashrc:   eval "$(v6 completion bash)"',
    "zsh": 'add to ~/.zshrc:    eval "$(v6 completion zsh)"',
    "fish": "run once:           v6 completion fish > ~/.config/fish/completions/v6.fish",
}


def completion_script(cli: click.Command, shell: str, prog: str = "v6") -> str:
    """The script that makes ``shell`` complete the commands of ``cli``, installed as ``prog``."""
    cls = get_completion_class(shell)
    if cls is None:
        raise CliError(f"no completion for shell {shell!r}", USAGE)
    complete_var = "_" + prog.replace("-", "_").upper() + "_COMPLETE"
    return cls(cli, {}, prog, complete_var).source()


@click.command("completion", short_help="Print the shell completion script (bash, zsh, fish).")
@click.argument("shell", type=click.Choice(SHELLS), required=False)
@click.pass_context
def completion(ctx: click.Context, shell: str | None) -> None:
    """Print the completion script for SHELL (default: your login shell)."""
    if shell is None:
        shell = Path(os.environ.get("SHELL", "bash")).name
        if shell not in SHELLS:
            raise CliError(f"cannot tell your shell ({shell!r}); name it: bash, zsh or fish", USAGE)
    click.echo(completion_script(ctx.find_root().command, shell))
    output.info(INSTALL[shell])
