"""Tests for the scanbridge command line (no server: the App is replaced by a fake)."""

import json
import logging
import os
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from scanbridge.cli import LOG_FORMAT, main
from scanbridge.config import Config, ConfigError, load_config
from scanbridge.scanners import parse_scanner_spec

PYTHON_SRC = Path(__file__).resolve().parents[1] / "python"
PORT_RANGE = "must be an integer in [1024, 65535] (or 0 to pick a free port)"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SCANBRIDGE_"):
            monkeypatch.delenv(name)


class FakeApp:
    instances: list["FakeApp"] = []
    fail_with: BaseException | None = None

    def __init__(self, config: Config) -> None:
        if FakeApp.fail_with is not None:
            raise FakeApp.fail_with
        self.config = config
        self.runs = 0
        FakeApp.instances.append(self)

    def run(self) -> None:
        self.runs += 1


@pytest.fixture
def fake_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeApp]]:
    module = types.ModuleType("scanbridge.app")
    module.App = FakeApp  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scanbridge.app", module)
    FakeApp.instances = []
    FakeApp.fail_with = None
    yield FakeApp
    FakeApp.instances = []
    FakeApp.fail_with = None


@pytest.fixture
def log_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: calls.append(kwargs))
    return calls


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env)


def assert_config_error(result: Result, *parts: str) -> str:
    """Exit code 2, exactly one line on stderr that starts 'config error:', no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("config error: ")
    assert "Traceback" not in result.output
    for part in parts:
        assert part in lines[0]
    return lines[0]


# ----------------------------------------------------------------------- basics


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout.startswith("scanbridge, version ")


def test_help_lists_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "serve" in result.stdout and "check-config" in result.stdout


def test_serve_help_lists_flags() -> None:
    result = invoke("serve", "--help")
    assert result.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--config",
        "--echo / --no-echo",
        "--https",
        "--ssl-certfile",
        "--ssl-keyfile",
        "--max-message-bytes",
        "--log-level",
    ):
        assert flag in result.stdout


def test_unknown_command() -> None:
    result = invoke("nope")
    assert result.exit_code == 2
    assert "No such command" in result.stderr


# ------------------------------------------------------------------------ serve


def test_serve_defaults(fake_app: type[FakeApp], log_calls: list[dict[str, Any]]) -> None:
    result = invoke("serve")
    assert result.exit_code == 0, result.output
    (app,) = fake_app.instances
    assert app.config == Config()
    assert app.runs == 1
    assert log_calls == [{"level": "INFO", "format": LOG_FORMAT}]


def test_serve_flags(fake_app: type[FakeApp], log_calls: list[dict[str, Any]]) -> None:
    result = invoke(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "9999",
        "--echo",
        "--https",
        "--ssl-certfile",
        "c.pem",
        "--ssl-keyfile",
        "k.pem",
        "--max-message-bytes",
        "4096",
        "--log-level",
        "debug",
    )
    assert result.exit_code == 0, result.output
    (app,) = fake_app.instances
    assert app.config == Config(
        host="0.0.0.0",
        port=9999,
        echo=True,
        https=True,
        ssl_certfile="c.pem",
        ssl_keyfile="k.pem",
        max_message_bytes=4096,
        log_level="debug",
    )
    assert app.runs == 1
    assert log_calls == [{"level": "DEBUG", "format": LOG_FORMAT}]


def test_serve_log_level_from_env(fake_app: type[FakeApp], log_calls: list[dict[str, Any]]) -> None:
    result = invoke("serve", env={"SCANBRIDGE_LOG_LEVEL": "warning"})
    assert result.exit_code == 0, result.output
    assert log_calls == [{"level": "WARNING", "format": LOG_FORMAT}]


def test_serve_precedence(
    tmp_path: Path, fake_app: type[FakeApp], log_calls: list[dict[str, Any]]
) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text('port = 2000\nhost = "0.0.0.0"\necho = true\n')
    env = {"SCANBRIDGE_PORT": "3000", "SCANBRIDGE_ECHO": "0"}

    assert invoke("serve", "--config", str(path)).exit_code == 0
    assert invoke("serve", "--config", str(path), env=env).exit_code == 0
    assert (
        invoke("serve", "--config", str(path), "--port", "4000", "--echo", env=env).exit_code == 0
    )
    assert invoke("serve", "--port", "4000", env={"SCANBRIDGE_CONFIG": str(path)}).exit_code == 0

    file_only, with_env, with_flags, config_from_env = (a.config for a in fake_app.instances)
    assert (file_only.port, file_only.echo, file_only.host) == (2000, True, "0.0.0.0")
    assert (with_env.port, with_env.echo, with_env.host) == (3000, False, "0.0.0.0")
    assert (with_flags.port, with_flags.echo, with_flags.host) == (4000, True, "0.0.0.0")
    assert (config_from_env.port, config_from_env.host) == (4000, "0.0.0.0")


def test_serve_no_echo_beats_file(tmp_path: Path, fake_app: type[FakeApp]) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text("echo = true\n")
    assert invoke("serve", "--config", str(path), "--no-echo").exit_code == 0
    assert fake_app.instances[0].config.echo is False


@pytest.mark.parametrize("port", ["80", "1023", "65536", "70000", "-1"])
def test_serve_bad_port(port: str, fake_app: type[FakeApp]) -> None:
    line = assert_config_error(invoke("serve", "--port", port), "1024", "65535")
    assert line == f"config error: port={int(port)} (from --port) is not allowed: {PORT_RANGE}"
    assert fake_app.instances == []


@pytest.mark.parametrize("port", ["0", "1024", "65535"])
def test_serve_good_port(port: str, fake_app: type[FakeApp]) -> None:
    result = invoke("serve", "--port", port)
    assert result.exit_code == 0, result.output
    assert fake_app.instances[0].config.port == int(port)


def test_serve_port_not_an_integer(fake_app: type[FakeApp]) -> None:
    line = assert_config_error(invoke("serve", "--port", "abc"))
    assert (
        line == "config error: port='abc' (from --port) is not an integer in [1024, 65535] "
        "(or 0 to pick a free port)"
    )
    assert fake_app.instances == []


def test_serve_bad_port_from_env(fake_app: type[FakeApp]) -> None:
    result = invoke("serve", env={"SCANBRIDGE_PORT": "80"})
    assert_config_error(result, "port=80", "SCANBRIDGE_PORT", "[1024, 65535]")


def test_serve_bad_log_level(fake_app: type[FakeApp]) -> None:
    result = invoke("serve", "--log-level", "loud")
    assert_config_error(result, "log_level='loud'", "--log-level", "'debug', 'info'")
    assert fake_app.instances == []


def test_serve_small_max_message_bytes(fake_app: type[FakeApp]) -> None:
    result = invoke("serve", "--max-message-bytes", "10")
    assert_config_error(result, "max_message_bytes=10", ">= 125")


def test_serve_certfile_without_keyfile(fake_app: type[FakeApp]) -> None:
    result = invoke("serve", "--ssl-certfile", "c.pem")
    assert_config_error(result, "ssl_certfile='c.pem'", "ssl_keyfile")


def test_serve_missing_config_file(tmp_path: Path, fake_app: type[FakeApp]) -> None:
    missing = tmp_path / "missing.toml"
    result = invoke("serve", "--config", str(missing))
    assert_config_error(result, str(missing), "cannot read")


def test_serve_unknown_toml_key(tmp_path: Path, fake_app: type[FakeApp]) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text("ehco = true\n")
    assert_config_error(invoke("serve", "--config", str(path)), "'ehco'", "did you mean 'echo'")


def test_serve_bad_toml(tmp_path: Path, fake_app: type[FakeApp]) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text("port = \n")
    assert_config_error(invoke("serve", "--config", str(path)), str(path), "invalid TOML", "line 1")


def test_config_error_from_app_exits_2(fake_app: type[FakeApp]) -> None:
    fake_app.fail_with = ConfigError("cannot be read", key="ssl_certfile", value="c.pem")
    result = invoke("serve")
    line = assert_config_error(result)
    assert line == "config error: ssl_certfile='c.pem' cannot be read"


# ---------------------------------------------------------------- check-config


def test_check_config_prints_toml(tmp_path: Path) -> None:
    result = invoke("check-config", "--port", "0", "--echo", env={"SCANBRIDGE_HOST": "::1"})
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    parsed = tomllib.loads(result.stdout)
    assert parsed["port"] == 0 and parsed["echo"] is True and parsed["host"] == "::1"
    assert parsed["max_message_bytes"] == 16 * 1024 * 1024
    path = tmp_path / "out.toml"
    path.write_text(result.stdout)
    assert load_config(path, env={}) == Config(port=0, echo=True, host="::1")


def test_check_config_reads_file(tmp_path: Path) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text('port = 2000\nallowed_origins = ["https://x.example"]\n')
    result = invoke("check-config", "--config", str(path))
    assert result.exit_code == 0, result.output
    parsed = tomllib.loads(result.stdout)
    assert parsed["port"] == 2000
    assert parsed["allowed_origins"] == ["https://x.example"]


def test_check_config_json() -> None:
    result = invoke("check-config", "--format", "json", env={"SCANBRIDGE_ECHO": "on"})
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["echo"] is True
    assert data["port"] == 9998
    assert data["ssl_certfile"] is None
    assert set(data) == set(Config.__struct_fields__)


def test_check_config_bad(tmp_path: Path) -> None:
    path = tmp_path / "scanbridge.toml"
    path.write_text("port = 70000\n")
    line = assert_config_error(invoke("check-config", "--config", str(path)))
    assert line == f"config error: port=70000 (from {path}) is not allowed: {PORT_RANGE}"


def test_check_config_does_not_import_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "scanbridge.app", None)  # importing it would fail
    result = invoke("check-config")
    assert result.exit_code == 0, result.output


# ------------------------------------------------------------------ subprocess


def run_cli(
    *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCANBRIDGE_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PYTHON_SRC), env.get("PYTHONPATH")]))
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "scanbridge.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("args", [("serve", "--port", "80"), ("check-config", "--port", "70000")])
def test_subprocess_bad_port_exit_2_one_line(args: tuple[str, ...]) -> None:
    proc = run_cli(*args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.endswith("\n")
    assert proc.stderr.startswith("config error: port=")
    assert "[1024, 65535]" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_subprocess_check_config_env() -> None:
    proc = run_cli("check-config", extra_env={"SCANBRIDGE_PORT": "12345"})
    assert proc.returncode == 0, proc.stderr
    assert tomllib.loads(proc.stdout)["port"] == 12345


def test_a_key_given_twice_is_an_error() -> None:
    """`--scanner demo:grab=on,grab=off` and `--set port=1 --set port=2` used to
    keep the last value silently; which one the user meant is not knowable."""
    with pytest.raises(ConfigError, match=r"grab \(from --scanner\) is given twice"):
        parse_scanner_spec("demo:grab=on,grab=off")
    result = invoke("config-barcode", "--set", "port=9000", "--set", "port=9001", "--key", "k")
    assert_config_error(result, "port", "--set", "given twice")
