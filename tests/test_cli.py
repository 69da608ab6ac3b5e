"""Every subcommand of `corridor` answers --help and loads without error."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from corridor.cli import cli


def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"corridor {' '.join((*path, name))} does not load"
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from walk(command, click.Context(command, parent=ctx), (*path, name))


def test_every_subcommand_has_help() -> None:
    runner = CliRunner()
    commands = list(walk(cli, click.Context(cli)))
    assert len(commands) >= 3
    for path, command in commands:
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, f"corridor {' '.join(path)} --help: {result.output}"
        assert "Usage:" in result.output
        assert command.help or command.short_help, f"corridor {' '.join(path)} has no help text"


def test_unknown_command_is_a_clear_error() -> None:
    run = subprocess.run([sys.executable, "-m", "corridor", "no-such-thing"],
                         capture_output=True, text=True)
    assert run.returncode == 2
    assert "No such command" in run.stderr
    assert "Traceback" not in run.stderr
