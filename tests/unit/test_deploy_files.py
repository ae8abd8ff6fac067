"""The deployment files stay in sync with the CLI: every command they run parses."""

from __future__ import annotations

import re
import shlex

import pytest
from typer.testing import CliRunner

from tutorpulse.cli import app

from ..conftest import REPO_ROOT


def deployment_commands() -> list[str]:
    commands: list[str] = []
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.startswith("#"):
            commands.append(line.split(":", 1)[1].strip())
    render = (REPO_ROOT / "render.yaml").read_text()
    commands += re.findall(r"(?:dockerCommand|preDeployCommand):\s*(.+)", render)
    docker_cmd = re.search(
        r'^CMD \["sh", "-c", "(.+)"\]', (REPO_ROOT / "Dockerfile").read_text(), re.M
    )
    assert docker_cmd is not None
    commands += [part.strip() for part in docker_cmd.group(1).split("&&")]
    return commands


def test_the_deployment_files_name_commands() -> None:
    commands = deployment_commands()
    assert "tutorpulse serve --host 0.0.0.0 --port 8000" in commands
    assert {"tutorpulse worker pipeline", "tutorpulse db upgrade"} <= set(commands)


@pytest.mark.parametrize("command", sorted(set(deployment_commands())))
def test_every_deployment_command_parses(command: str) -> None:
    argv = shlex.split(command.replace("$PORT", "8000"))
    assert argv[0] == "tutorpulse"
    # Unknown commands or options fail while parsing, before --help is acted on.
    result = CliRunner().invoke(app, [*argv[1:], "--help"])
    assert result.exit_code == 0, f"{command}: {result.output}"
    if argv[1] == "worker":
        from tutorpulse.jobs.cli import WORKERS

        assert argv[2] in WORKERS


def test_serve_accepts_workers() -> None:
    result = CliRunner().invoke(app, ["serve", "--workers", "4", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output
    refused = CliRunner().invoke(app, ["serve", "--workers", "0"])
    assert refused.exit_code == 2
