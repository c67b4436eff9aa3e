"""The ``scanbridge`` command line.

To add a command: decorate a function with ``@main.command(short_help=...)``
(a short_help of at most 55 characters: ``scanbridge --help`` shows it whole);
add ``@with_config`` to give it the config flags and a ``config: Config``
argument (loaded from file < environment < flags), or ``@with_config_file``
for ``--config`` alone (commands that do not serve). A :class:`ConfigError`
raised anywhere in a command is printed as one line on stderr, exit code 2
(with its traceback under ``scanbridge --debug``).
To add a flag for a config key: one line in :data:`CONFIG_FLAGS`.
"""

import functools
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

import click
import msgspec

from scanbridge.config import Config, ConfigError, dump_toml, load_config

__all__ = [
    "CONFIG_FLAGS",
    "LOG_FORMAT",
    "configure_logging",
    "main",
    "with_config",
    "with_config_file",
]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _version() -> str:
    try:
        return metadata.version("scanbridge")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _default(key: str) -> str:
    for field in msgspec.structs.fields(Config):
        if field.name == key:
            value = field.default if field.default_factory is msgspec.NODEFAULT else None
            if isinstance(value, bool):
                return "on" if value else "off"
            return str(value)
    raise KeyError(key)


# (config key, option declarations, click.option keyword arguments). Values are passed
# to the config as strings (or bools for on/off flags) so that the config checks them and
# reports bad ones with its own message. None means "not given".
_Flag = tuple[str, tuple[str, ...], dict[str, Any]]


def _flag(key: str, *decls: str, **options: Any) -> _Flag:
    return key, decls, options


CONFIG_FLAGS: tuple[_Flag, ...] = (
    _flag("host", "--host", metavar="ADDR", help=f"Address to listen on [{_default('host')}]."),
    _flag(
        "port",
        "--port",
        metavar="PORT",
        help=f"1024-65535, or 0 for any free port [{_default('port')}].",
    ),
    _flag("echo", "--echo/--no-echo", default=None, help="Mount the echo endpoint at /echo [off]."),
    _flag(
        "https",
        "--https/--no-https",
        default=None,
        help="Serve TLS, with a self-signed certificate unless --ssl-certfile is given [off].",
    ),
    _flag("ssl_certfile", "--ssl-certfile", metavar="FILE", help="TLS certificate (PEM)."),
    _flag("ssl_keyfile", "--ssl-keyfile", metavar="FILE", help="TLS private key (PEM)."),
    _flag(
        "max_message_bytes",
        "--max-message-bytes",
        metavar="N",
        help=f"Larger messages get close code 1009 [{_default('max_message_bytes')}].",
    ),
    _flag(
        "streams",
        "--streams/--no-streams",
        default=None,
        help="Serve the Streams API (/, /streams, /api/scans, the journal) [on].",
    ),
    _flag(
        "journal",
        "--journal",
        metavar="FILE",
        help="SQLite journal of Streams events (:memory: = none) [user data dir].",
    ),
    _flag(
        "token",
        "--token",
        metavar="TOKEN",
        help="Require this token on the Streams socket (Bearer, ?token= or Basic).",
    ),
    _flag(
        "gateway_serial",
        "--gateway-serial",
        metavar="SERIAL",
        help="This server's serial in Streams events [derived from the machine id].",
    ),
    _flag(
        "redis_url",
        "--redis-url",
        metavar="URL",
        help="Redis for rooms across processes and hosts (redis://host:port/db).",
    ),
    _flag(
        "workers",
        "--workers",
        metavar="N",
        help="Processes on one port (SO_REUSEPORT); more than 1 needs --redis-url and"
        " --no-streams [1].",
    ),
    _flag(
        "log_level",
        "--log-level",
        metavar="LEVEL",
        help=f"debug, info, warning or error [{_default('log_level')}].",
    ),
)


def _config_option(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("--config", "config_path", metavar="FILE", default=None, help=help_text)


def with_config(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command ``--config FILE`` and the :data:`CONFIG_FLAGS`, and pass it ``config``."""

    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        overrides = {key: kwargs.pop(key) for key, _, _ in CONFIG_FLAGS}
        config = load_config(config_path, overrides=overrides)
        return func(*args, config=config, **kwargs)

    command: Callable[..., Any] = wrapper
    for key, decls, options in reversed(CONFIG_FLAGS):
        command = click.option(*decls, key, **options)(command)
    return _config_option(
        "TOML config file [$SCANBRIDGE_CONFIG]. Environment variables "
        "SCANBRIDGE_<KEY> override it; flags override both."
    )(command)


def with_config_file(func: Callable[..., Any]) -> Callable[..., Any]:
    """Give a command only ``--config FILE`` (no server flags), and pass it ``config``."""

    @functools.wraps(func)
    def wrapper(*args: Any, config_path: str | None, **kwargs: Any) -> Any:
        return func(*args, config=load_config(config_path), **kwargs)

    return _config_option(
        "The server's TOML config file [$SCANBRIDGE_CONFIG], with SCANBRIDGE_<KEY> "
        "environment variables over it."
    )(wrapper)


def configure_logging(level: str) -> None:
    """Set up the root logger at ``level`` (debug, info, warning, error)."""
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT)


class _Group(click.Group):
    """Prints a :class:`ConfigError` from any command as one line on stderr, exit
    code 2 (``--debug``: the traceback too)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            if ctx.params.get("debug"):
                import traceback

                traceback.print_exc()
            click.echo(str(exc), err=True)
            ctx.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), "-V", "--version", prog_name="scanbridge")
@click.option("--debug", is_flag=True, help="Show the traceback of an error, too.")
def main(debug: bool) -> None:
    """scanbridge: a fast WebSocket bridge between barcode scanners, services and apps."""


@main.command(short_help="Run the server until SIGINT or SIGTERM.")
@click.option(
    "--scanner",
    "scanner_specs",
    multiple=True,
    metavar="SPEC",
    help="Add a scanner: SOURCE[:key=value,...], e.g. demo, stdin, "
    "replay:path=FIFO,layout=de, evdev:name=*Scanner*, hidraw:path=/dev/hidraw0 (repeatable).",
)
@with_config
def serve(config: Config, scanner_specs: tuple[str, ...]) -> None:
    """Run the server until SIGINT or SIGTERM."""
    if scanner_specs:
        from scanbridge.scanners import parse_scanner_spec

        extra = [parse_scanner_spec(spec) for spec in scanner_specs]
        config.scanners = [*config.scanners, *extra]
        config.validate()
    configure_logging(config.log_level)
    if config.workers > 1:
        from scanbridge.workers import run_workers

        config.check_exposure()  # here, not in each worker (App.start checks it)

        sys.exit(run_workers(config))
    from scanbridge.app import App

    app = App(config)
    app.run()


@main.command(short_help="Inject a scan, as if a scanner read CODE.")
@click.argument("code")
@click.option(
    "--server",
    default="http://127.0.0.1:9998",
    show_default=True,
    help="The scanbridge server to inject into.",
)
@click.option("--device-serial", default=None, help="The scan's device serial [API-0001].")
def scan(code: str, server: str, device_serial: str | None) -> None:
    """Inject a scan (POST /api/scans) as if a scanner read CODE."""
    import json
    import urllib.error
    import urllib.request

    body: dict[str, Any] = {"code": code}
    if device_serial:
        body["device_serial"] = device_serial
    req = urllib.request.Request(
        server.rstrip("/") + "/api/scans",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            click.echo(r.read().decode())
    except urllib.error.HTTPError as e:
        click.echo(f"scanbridge scan: {e.code} {e.read().decode().strip()}", err=True)
        sys.exit(1)
    except OSError as e:
        click.echo(f"scanbridge scan: cannot reach {server}: {e}", err=True)
        sys.exit(1)


@main.command("config-barcode", short_help="Make a signed configuration barcode.")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    required=True,
    help="A change, e.g. --set port=9999 (repeatable).",
)
@click.option(
    "--out",
    default=None,
    metavar="FILE",
    help="Write the QR code here (.png, .svg, .svgz, .pdf or .eps); "
    "without it, print the barcode's text.",
)
@click.option(
    "--key", default=None, metavar="KEY", help="The HMAC key [config_barcode_key of the config]."
)
@click.option(
    "--valid-for",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How long the server accepts the barcode: seconds, or 90m, 24h, 7d.",
)
@with_config_file
def config_barcode(
    config: Config, settings: tuple[str, ...], out: str | None, key: str | None, valid_for: str
) -> None:
    """Make a signed configuration barcode; a scanner that reads it changes the server
    until the barcode expires (--valid-for)."""
    from scanbridge.config import field_type, parse_text
    from scanbridge.config_barcode import make_config_text, out_format, parse_duration, render

    if out:
        out_format(out)
    lifetime = parse_duration(valid_for)

    changes: dict[str, Any] = {}
    for item in settings:
        k, eq, v = item.partition("=")
        k = k.strip()
        if not eq or not k:
            raise ConfigError("is not KEY=VALUE", key="--set", value=item)
        if k in changes:
            raise ConfigError("is given twice: give each key once", key=k, source="--set")
        try:
            tp = field_type(Config, k)
        except KeyError:
            changes[k] = v  # make_config_text names the keys it can set
        else:
            changes[k] = parse_text(k, v, tp, "--set")
    text = make_config_text(changes, key or config.config_barcode_key or "", valid_for=lifetime)
    if out:
        render(text, out)
        click.echo(f"wrote {out}")
    else:
        click.echo(text)


@main.command("check-config", short_help="Print the effective configuration and exit.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["toml", "json"]),
    default="toml",
    show_default=True,
    help="Output format.",
)
@with_config
def check_config(config: Config, fmt: str) -> None:
    """Print the effective configuration (file < environment < flags) and exit.

    Exit code 0 if it is valid; otherwise one line on stderr and exit code 2.
    """
    if fmt == "json":
        click.echo(msgspec.json.format(msgspec.json.encode(config), indent=2).decode())
    else:
        click.echo(dump_toml(config), nl=False)


@main.command(short_help="List the server's open WebSocket sessions.")
@click.option(
    "--server",
    default="http://127.0.0.1:9998",
    show_default=True,
    help="The scanbridge server to ask.",
)
@click.option("--user", default=None, help="Admin user ([admin] user of the server).")
@click.option(
    "--password", default=None, help="Admin password (asked for when --user is given without it)."
)
@click.option("--endpoint", default=None, metavar="PATH", help="Only sessions on this path.")
@click.option("--port-alias", default=None, metavar="ALIAS", help="Only sessions on this port.")
@click.option("--json", "as_json", is_flag=True, help="Print the sessions as JSON.")
def sessions(
    server: str,
    user: str | None,
    password: str | None,
    endpoint: str | None,
    port_alias: str | None,
    as_json: bool,
) -> None:
    """List the server's open WebSocket sessions (GET /admin/api/sessions)."""
    import base64
    import datetime
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    headers = {"Accept": "application/json"}
    if user is not None:
        if password is None:
            password = click.prompt("Password", hide_input=True, err=True)
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    rows: list[dict[str, Any]] = []
    page, pages = 1, 1
    while page <= pages:
        query = {"page": str(page)}
        if endpoint:
            query["endpoint"] = endpoint
        if port_alias:
            query["port"] = port_alias
        url = server.rstrip("/") + "/admin/api/sessions?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=10
            ) as r:
                data = json.loads(r.read())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace").strip()
            try:
                detail = json.loads(detail)["error"]
            except (ValueError, KeyError, TypeError):
                pass
            hint = " (give --user)" if e.code == 401 and user is None else ""
            click.echo(f"scanbridge sessions: {e.code} {detail}{hint}", err=True)
            sys.exit(1)
        except (OSError, ValueError) as e:
            click.echo(f"scanbridge sessions: cannot reach {server}: {e}", err=True)
            sys.exit(1)
        rows.extend(data["sessions"])
        pages = int(data["pages"])
        page += 1
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no open sessions")
        return
    cols = ("id", "endpoint", "port", "peer", "since", "bytes in", "bytes out", "rooms")
    table = [
        (
            r["id"],
            r["endpoint"],
            r["port"],
            r["peer"],
            datetime.datetime.fromtimestamp(r["since"]).strftime("%Y-%m-%d %H:%M:%S"),
            str(r["bytes_in"]),
            str(r["bytes_out"]),
            ",".join(r["rooms"]),
        )
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in table)) for i, c in enumerate(cols)]
    right = {5, 6}
    for row in (cols, *table):
        cells = [
            v.rjust(widths[i]) if i in right else v.ljust(widths[i]) for i, v in enumerate(row)
        ]
        click.echo("  ".join(cells).rstrip())


@main.command("hash-password", short_help="Print a password hash for [admin] password_hash.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin instead of asking.",
)
def hash_password_cmd(password_stdin: bool) -> None:
    """Print a password hash for [admin] password_hash (scrypt)."""
    from scanbridge.auth import hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    if not password:
        click.echo("scanbridge hash-password: the password is empty", err=True)
        sys.exit(1)
    click.echo(hash_password(password))


if __name__ == "__main__":
    main()
