"""Tests for scanbridge.config: precedence, parsing, validation and error messages."""

import tomllib
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest

import scanbridge.config.load as config_load
from scanbridge.config import (
    CONFIG_ENV,
    Config,
    ConfigError,
    Port,
    Section,
    config_keys,
    dump_toml,
    load_config,
)

PORT_RANGE = "must be an integer in [1024, 65535] (or 0 to pick a free port)"


def write(tmp_path: Path, text: str, name: str = "scanbridge.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(**kwargs: Any) -> str:
    """The message of the ConfigError that load_config(**kwargs) raises."""
    kwargs.setdefault("env", {})
    with pytest.raises(ConfigError) as info:
        load_config(**kwargs)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith("config error: ")
    return message


# ------------------------------------------------------------------ defaults


def test_defaults() -> None:
    config = load_config(env={})
    assert config == Config()
    assert config.host == "127.0.0.1"
    assert config.port == 9998
    assert config.echo is False
    assert config.https is False
    assert config.ssl_certfile is None and config.ssl_keyfile is None
    assert config.max_message_bytes == 16 * 1024 * 1024
    assert config.max_queue_bytes == 1024 * 1024
    assert config.compression is True
    assert config.allowed_origins == [
        "http://localhost",
        "http://localhost:*",
        "http://127.0.0.1",
        "http://127.0.0.1:*",
    ]  # not "null" (any site's sandboxed iframe): an explicit opt-in
    assert config.log_level == "info"
    assert (config.idle_timeout, config.ping_interval, config.shutdown_timeout) == (0, 0, 5)


def test_default_lists_are_not_shared() -> None:
    a, b = Config(), Config()
    a.allowed_origins.append("https://example.com")
    assert b.allowed_origins == [
        "http://localhost",
        "http://localhost:*",
        "http://127.0.0.1",
        "http://127.0.0.1:*",
    ]


def test_config_keys_in_declaration_order() -> None:
    keys = config_keys()
    assert keys[:3] == ["host", "port", "echo"]
    assert "shutdown_timeout" in keys


# ---------------------------------------------------------------- precedence


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "0.0.0.0"\nport = 2000\necho = true\nlog_level = "warning"\n')
    env = {"SCANBRIDGE_PORT": "3000", "SCANBRIDGE_ECHO": "false"}
    config = load_config(path, env=env, overrides={"echo": True, "log_level": None})
    assert config.host == "0.0.0.0"  # file only
    assert config.port == 3000  # env beats file
    assert config.echo is True  # flag beats env and file
    assert config.log_level == "warning"  # flag None = not given: file stands


def test_file_beats_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "port = 2000\n"), env={})
    assert config.port == 2000
    assert config.host == "127.0.0.1"


def test_override_beats_env() -> None:
    config = load_config(env={"SCANBRIDGE_PORT": "3000"}, overrides={"port": "4000"})
    assert config.port == 4000


def test_env_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCANBRIDGE_PORT", "5555")
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert load_config().port == 5555


def test_config_path_from_env(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 2001\n")
    assert load_config(env={CONFIG_ENV: str(path)}).port == 2001


def test_explicit_path_beats_config_env(tmp_path: Path) -> None:
    env_path = write(tmp_path, "port = 2001\n", "env.toml")
    arg_path = write(tmp_path, "port = 2002\n", "arg.toml")
    assert load_config(arg_path, env={CONFIG_ENV: str(env_path)}).port == 2002


def test_missing_config_env_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    message = error_of(env={CONFIG_ENV: str(missing)})
    assert str(missing) in message


# ----------------------------------------------------------- environment vars


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        (" On ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("Off", False),
    ],
)
def test_env_bool_words(text: str, expected: bool) -> None:
    assert load_config(env={"SCANBRIDGE_ECHO": text}).echo is expected
    assert load_config(env={"SCANBRIDGE_COMPRESSION": text}).compression is expected


def test_env_bool_bad_word() -> None:
    message = error_of(env={"SCANBRIDGE_ECHO": "maybe"})
    assert message == (
        "config error: echo='maybe' (from SCANBRIDGE_ECHO) is not a boolean "
        "(1/true/yes/on or 0/false/no/off)"
    )


def test_env_comma_list() -> None:
    env = {"SCANBRIDGE_ALLOWED_ORIGINS": "https://a.example, https://b.example:*,"}
    config = load_config(env=env)
    assert config.allowed_origins == ["https://a.example", "https://b.example:*"]


def test_env_single_item_list() -> None:
    assert load_config(env={"SCANBRIDGE_ALLOWED_ORIGINS": "null"}).allowed_origins == ["null"]


def test_env_numbers() -> None:
    env = {
        "SCANBRIDGE_MAX_MESSAGE_BYTES": "1000",
        "SCANBRIDGE_MAX_QUEUE_BYTES": "4096",
        "SCANBRIDGE_IDLE_TIMEOUT": "2.5",
        "SCANBRIDGE_PING_INTERVAL": "10",
        "SCANBRIDGE_SHUTDOWN_TIMEOUT": "0",
    }
    config = load_config(env=env)
    assert config.max_message_bytes == 1000
    assert config.max_queue_bytes == 4096
    assert config.idle_timeout == 2.5
    assert config.ping_interval == 10.0 and isinstance(config.ping_interval, float)
    assert config.shutdown_timeout == 0.0


def test_env_strings_and_optional() -> None:
    env = {
        "SCANBRIDGE_HOST": "::1",
        "SCANBRIDGE_SSL_CERTFILE": "/etc/cert.pem",
        "SCANBRIDGE_SSL_KEYFILE": "/etc/key.pem",
    }
    config = load_config(env=env)
    assert config.host == "::1"
    assert (config.ssl_certfile, config.ssl_keyfile) == ("/etc/cert.pem", "/etc/key.pem")


def test_env_empty_optional_means_unset(tmp_path: Path) -> None:
    path = write(tmp_path, 'ssl_certfile = "c.pem"\nssl_keyfile = "k.pem"\n')
    env = {"SCANBRIDGE_SSL_CERTFILE": "", "SCANBRIDGE_SSL_KEYFILE": ""}
    config = load_config(path, env=env)
    assert config.ssl_certfile is None and config.ssl_keyfile is None


def test_env_log_level_case_insensitive() -> None:
    assert load_config(env={"SCANBRIDGE_LOG_LEVEL": "DEBUG"}).log_level == "debug"


def test_unknown_scanbridge_env_vars_are_errors() -> None:
    """A typo in a variable name is an error naming it, as an unknown TOML key
    or flag is; variables without the prefix are not ours and are ignored."""
    assert load_config(env={"PORT": "80", "SCANBRIDGE": "x"}) == Config()
    message = error_of(env={"SCANBRIDGE_PROT": "80"})
    assert message.startswith("config error: unknown key 'SCANBRIDGE_PROT' in the environment")
    assert "did you mean 'SCANBRIDGE_PORT'" in message
    assert "SCANBRIDGE_NO_SUCH_KEY" in error_of(env={"SCANBRIDGE_NO_SUCH_KEY": "x"})
    # the name is upper case, as documented; a lower-case one is not read as the key
    assert "SCANBRIDGE_port" in error_of(env={"SCANBRIDGE_port": "3000"})
    # SCANBRIDGE_CONFIG names the file and is not a key
    assert load_config(env={"SCANBRIDGE_CONFIG": ""}) == Config()


def test_tables_given_in_python_are_built_and_checked() -> None:
    """Config(admin={...}) builds the section (it used to keep the dict, which
    failed later with an AttributeError), with the same errors as TOML."""
    config = Config(admin={"port": 9000}, scanners=[{"source": "demo"}])
    assert config.admin.port == 9000 and config.scanners[0].source == "demo"
    with pytest.raises(ConfigError, match=r"admin\.port=1 is not allowed"):
        Config(admin={"port": 1})
    with pytest.raises(ConfigError, match=r"unknown key 'admin\.bogus'"):
        Config(admin={"port": 9000, "bogus": 1})
    with pytest.raises(ConfigError, match=r"scanners\[0\]\.source is missing"):
        Config(scanners=[{"grab": True}])


def test_an_optional_port_keeps_its_range(tmp_path: Path) -> None:
    """[admin] port is `Port | None`: the port rule applies to it as to port."""
    message = error_of(path=write(tmp_path, "[admin]\nport = 80\n"))
    assert "admin.port=80" in message and "[1024, 65535]" in message


def test_env_port_not_an_integer() -> None:
    message = error_of(env={"SCANBRIDGE_PORT": "abc"})
    assert (
        message == "config error: port='abc' (from SCANBRIDGE_PORT) is not an integer in "
        "[1024, 65535] (or 0 to pick a free port)"
    )


def test_env_float_not_a_number() -> None:
    message = error_of(env={"SCANBRIDGE_IDLE_TIMEOUT": "soon"})
    assert (
        message
        == "config error: idle_timeout='soon' (from SCANBRIDGE_IDLE_TIMEOUT) is not a number >= 0"
    )


def test_env_port_out_of_range_names_the_variable() -> None:
    message = error_of(env={"SCANBRIDGE_PORT": "80"})
    assert message == f"config error: port=80 (from SCANBRIDGE_PORT) is not allowed: {PORT_RANGE}"


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize("port", [80, 1023, 65536, 70000, -1])
def test_bad_port_direct(port: int) -> None:
    with pytest.raises(ConfigError) as info:
        Config(port=port)
    assert str(info.value) == f"config error: port={port} is not allowed: {PORT_RANGE}"
    assert info.value.key == "port"
    assert info.value.value == port


@pytest.mark.parametrize("port", [0, 1024, 9998, 65535])
def test_good_port(port: int) -> None:
    assert Config(port=port).port == port
    assert load_config(env={}, overrides={"port": str(port)}).port == port


@pytest.mark.parametrize("port", ["80", "70000", "-1"])
def test_bad_port_from_flag(port: str) -> None:
    message = error_of(overrides={"port": port})
    assert message == f"config error: port={int(port)} (from --port) is not allowed: {PORT_RANGE}"
    assert "1024" in message and "65535" in message


def test_bad_port_from_flag_not_an_integer() -> None:
    assert error_of(overrides={"port": "abc"}) == (
        "config error: port='abc' (from --port) is not an integer in [1024, 65535] "
        "(or 0 to pick a free port)"
    )


def test_port_wrong_python_types() -> None:
    for value in ("9999", True, 9999.0):
        with pytest.raises(
            ConfigError, match=r"is not an integer in \[1024, 65535\] \(or 0 to pick a free port\)$"
        ):
            Config(port=value)  # type: ignore[arg-type]


def test_max_message_bytes() -> None:
    assert Config(max_message_bytes=125).max_message_bytes == 125
    with pytest.raises(ConfigError) as info:
        Config(max_message_bytes=124)
    assert str(info.value) == (
        "config error: max_message_bytes=124 is not allowed: must be an integer >= 125"
    )


def test_max_message_bytes_from_env() -> None:
    message = error_of(env={"SCANBRIDGE_MAX_MESSAGE_BYTES": "100"})
    assert message == (
        "config error: max_message_bytes=100 (from SCANBRIDGE_MAX_MESSAGE_BYTES) "
        "is not allowed: must be an integer >= 125"
    )


def test_max_queue_bytes() -> None:
    assert Config(max_queue_bytes=1024).max_queue_bytes == 1024
    with pytest.raises(ConfigError, match=r"max_queue_bytes=1023 .*>= 1024"):
        Config(max_queue_bytes=1023)


@pytest.mark.parametrize("key", ["idle_timeout", "ping_interval", "shutdown_timeout"])
def test_negative_durations(key: str) -> None:
    kwargs: dict[str, Any] = {key: -1.0}
    with pytest.raises(ConfigError) as info:
        Config(**kwargs)
    assert str(info.value) == f"config error: {key}=-1.0 is not allowed: must be a number >= 0"


def test_nan_duration_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"idle_timeout=nan"):
        Config(idle_timeout=float("nan"))


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error"])
def test_good_log_levels(level: str) -> None:
    assert Config(log_level=level).log_level == level  # type: ignore[arg-type]


def test_bad_log_level() -> None:
    message = error_of(overrides={"log_level": "verbose"})
    assert message == (
        "config error: log_level='verbose' (from --log-level) is not allowed: "
        "must be one of 'debug', 'info', 'warning', 'error'"
    )


def test_bad_log_level_direct() -> None:
    with pytest.raises(ConfigError, match=r"log_level='trace' is not allowed"):
        Config(log_level="trace")  # type: ignore[arg-type]


def test_empty_host() -> None:
    with pytest.raises(ConfigError, match=r"^config error: host='' is not allowed"):
        Config(host="")


def test_empty_origin() -> None:
    with pytest.raises(ConfigError, match=r"allowed_origins=\['null', ''\] is not allowed"):
        Config(allowed_origins=["null", ""])


def test_ssl_certfile_without_keyfile() -> None:
    message = error_of(overrides={"ssl_certfile": "/c.pem"})
    assert message == (
        "config error: ssl_certfile='/c.pem' (from --ssl-certfile) is given without "
        "ssl_keyfile: give both ssl_certfile and ssl_keyfile, or neither"
    )


def test_ssl_keyfile_without_certfile(tmp_path: Path) -> None:
    path = write(tmp_path, 'ssl_keyfile = "/k.pem"\n')
    message = error_of(path=path)
    assert message.startswith(f"config error: ssl_keyfile='/k.pem' (from {path}) is given without")


def test_ssl_both_given() -> None:
    config = load_config(env={}, overrides={"ssl_certfile": "c.pem", "ssl_keyfile": "k.pem"})
    assert (config.ssl_certfile, config.ssl_keyfile) == ("c.pem", "k.pem")


def test_validate_catches_mutation() -> None:
    config = Config()
    config.validate()
    config.port = 80
    with pytest.raises(ConfigError, match=r"port=80"):
        config.validate()


def test_error_attributes() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"SCANBRIDGE_PORT": "80"})
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.key, err.value, err.source) == ("port", 80, "SCANBRIDGE_PORT")


def test_long_values_are_shortened_to_one_line() -> None:
    with pytest.raises(ConfigError) as info:
        Config(host=5 * ("x" * 100 + "\n"), port=80)
    message = str(info.value)
    assert "\n" not in message
    assert len(message) < 400


def test_unknown_override_key() -> None:
    message = error_of(overrides={"prot": "1"})
    assert "'prot'" in message and "did you mean 'port'" in message


def test_typed_overrides() -> None:
    config = load_config(env={}, overrides={"port": 9999, "echo": True, "idle_timeout": 3})
    assert (config.port, config.echo, config.idle_timeout) == (9999, True, 3.0)


# ------------------------------------------------------------------------- TOML


def test_toml_all_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
host = "0.0.0.0"
port = 0
echo = true
https = true
ssl_certfile = "c.pem"
ssl_keyfile = "k.pem"
max_message_bytes = 125
max_queue_bytes = 2048
compression = false
allowed_origins = ["https://*.example.com"]
log_level = "error"
idle_timeout = 30
ping_interval = 2.5
shutdown_timeout = 1
""",
    )
    config = load_config(path, env={})
    assert config == Config(
        host="0.0.0.0",
        port=0,
        echo=True,
        https=True,
        ssl_certfile="c.pem",
        ssl_keyfile="k.pem",
        max_message_bytes=125,
        max_queue_bytes=2048,
        compression=False,
        allowed_origins=["https://*.example.com"],
        log_level="error",
        idle_timeout=30.0,
        ping_interval=2.5,
        shutdown_timeout=1.0,
    )
    assert isinstance(config.idle_timeout, float)


def test_toml_bad_port(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 80\n")
    assert (
        error_of(path=path) == f"config error: port=80 (from {path}) is not allowed: {PORT_RANGE}"
    )


def test_toml_unknown_key_suggests_close_one(tmp_path: Path) -> None:
    path = write(tmp_path, "ecoh = true\n")
    assert (
        error_of(path=path) == f"config error: unknown key 'ecoh' in {path}: did you mean 'echo'?"
    )


def test_toml_unknown_key_several_suggestions(tmp_path: Path) -> None:
    path = write(tmp_path, "max_bytes = 1\n")
    message = error_of(path=path)
    assert "unknown key 'max_bytes'" in message
    assert "'max_message_bytes'" in message and "'max_queue_bytes'" in message


def test_toml_unknown_key_without_close_one_lists_all(tmp_path: Path) -> None:
    path = write(tmp_path, "zzzzzz = 1\n")
    message = error_of(path=path)
    assert "unknown key 'zzzzzz'" in message
    assert "known keys: host, port, echo," in message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            'port = "9999"',
            "port='9999' ({path}) is not an integer in [1024, 65535] (or 0 to pick a free port)",
        ),
        (
            "port = 9999.0",
            "port=9999.0 ({path}) is not an integer in [1024, 65535] (or 0 to pick a free port)",
        ),
        (
            "port = true",
            "port=True ({path}) is not an integer in [1024, 65535] (or 0 to pick a free port)",
        ),
        ('echo = "yes"', "echo='yes' ({path}) is not a boolean (true or false)"),
        ("host = 1", "host=1 ({path}) is not a non-empty string"),
        (
            'allowed_origins = "null"',
            "allowed_origins='null' ({path}) is not a list of non-empty strings",
        ),
        (
            "allowed_origins = [1]",
            "allowed_origins=[1] ({path}) is not a list of non-empty strings",
        ),
        ('idle_timeout = "1"', "idle_timeout='1' ({path}) is not a number >= 0"),
        ("ssl_certfile = 3", "ssl_certfile=3 ({path}) is not a string (or unset)"),
        (
            "port = {a = 1}",
            "port={'a': 1} ({path}) is not an integer in [1024, 65535] (or 0 to pick a free port)",
        ),
    ],
)
def test_toml_wrong_types(tmp_path: Path, line: str, expected: str) -> None:
    path = write(tmp_path, line + "\n")
    assert error_of(path=path) == "config error: " + expected.replace("{path}", f"from {path}")


def test_toml_log_level_case_insensitive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, 'log_level = "Warning"\n'), env={}).log_level == "warning"


def test_toml_bad_syntax(tmp_path: Path) -> None:
    path = write(tmp_path, "port = = 9999\n")
    message = error_of(path=path)
    assert message.startswith(f"config error: invalid TOML in config file {path}: ")
    assert "line 1" in message


def test_toml_bad_syntax_multiline_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'host = "a"\n[broken\nport = 1\n')
    message = error_of(path=path)
    assert str(path) in message and "line 2" in message


def test_toml_duplicate_key(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 2000\nport = 2001\n")
    assert "invalid TOML" in error_of(path=path)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.toml"
    assert error_of(path=path) == (
        f"config error: cannot read config file {path}: No such file or directory"
    )


def test_directory_as_file(tmp_path: Path) -> None:
    message = error_of(path=tmp_path)
    assert message.startswith(f"config error: cannot read config file {tmp_path}: ")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'host = "caf\xe9"\n')
    message = error_of(path=path)
    assert str(path) in message and "UTF-8" in message


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, ""), env={}) == Config()


# ---------------------------------------------------------------------- dumping


def test_dump_toml_round_trip(tmp_path: Path) -> None:
    config = Config(
        host="::",
        port=0,
        echo=True,
        ssl_certfile='/path/with "quotes"\n\\and\x7f',
        ssl_keyfile="k.pem",
        allowed_origins=["null", "https://é.example"],
        idle_timeout=1.5,
        log_level="debug",
    )
    text = dump_toml(config)
    assert tomllib.loads(text)["port"] == 0
    assert load_config(write(tmp_path, text), env={}) == config


def test_dump_toml_leaves_unset_keys_out() -> None:
    parsed = tomllib.loads(dump_toml(Config()))
    assert "ssl_certfile" not in parsed
    unset = {k for k in config_keys() if getattr(Config(), k) is None}
    assert "ssl_keyfile" in unset
    assert set(parsed) == set(config_keys()) - unset


# --------------------------------------------------------- nested tables (later)


class _Jobs(Section, kw_only=True, forbid_unknown_fields=True):
    workers: Annotated[int, msgspec.Meta(ge=1)] = 1


class _Scanner(Section, kw_only=True, forbid_unknown_fields=True):
    name: str = "scanner"
    port: Port = 0


class _BigConfig(Config, kw_only=True, forbid_unknown_fields=True):
    jobs: _Jobs = msgspec.field(default_factory=_Jobs)
    scanners: list[_Scanner] = msgspec.field(default_factory=list)


@pytest.fixture
def big_config(monkeypatch: pytest.MonkeyPatch) -> None:
    # load_config builds the Config class of the module it lives in.
    monkeypatch.setattr(config_load, "Config", _BigConfig)


NESTED = """
port = 2000
[jobs]
workers = 4
[[scanners]]
name = "a"
[[scanners]]
name = "b"
port = 3000
"""


@pytest.mark.usefixtures("big_config")
def test_nested_tables_load_and_round_trip(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, NESTED), env={})
    assert isinstance(config, _BigConfig)
    assert config.jobs == _Jobs(workers=4)
    assert config.scanners == [_Scanner(name="a"), _Scanner(name="b", port=3000)]
    again = load_config(write(tmp_path, dump_toml(config), "again.toml"), env={})
    assert again == config


@pytest.mark.usefixtures("big_config")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[jobs]\nworker = 2\n", "unknown key 'jobs.worker' in {path}: did you mean 'workers'?"),
        (
            "[jobs]\nworkers = 0\n",
            "jobs.workers=0 (from {path}) is not allowed: must be an integer >= 1",
        ),
        (
            "[[scanners]]\nport = 80\n",
            "scanners[0].port=80 (from {path}) is not allowed: " + PORT_RANGE,
        ),
        ("jobs = 3\n", "jobs=3 (from {path}) is not a table"),
    ],
)
def test_nested_table_errors(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    assert error_of(path=path) == "config error: " + expected.replace("{path}", str(path))


@pytest.mark.usefixtures("big_config")
def test_nested_table_from_env_json() -> None:
    config = load_config(env={"SCANBRIDGE_JOBS": '{"workers": 3}'})
    assert isinstance(config, _BigConfig)
    assert config.jobs == _Jobs(workers=3)
    message = error_of(env={"SCANBRIDGE_JOBS": '{"workers": 0}'})
    assert message.startswith("config error: jobs.workers=0 (from SCANBRIDGE_JOBS) is not allowed")


def test_nested_section_validates_on_construction() -> None:
    with pytest.raises(ConfigError, match=r"^config error: port=80 is not allowed"):
        _Scanner(port=80)
