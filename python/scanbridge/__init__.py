"""scanbridge: a fast WebSocket bridge between barcode scanners, services and apps."""

from ._core import __version__
from .app import App
from .auth import BasicAuth, BearerAuth, hash_password
from .client import ClientSession, connect
from .config import Config, ConfigError, ScannerConfig, load_config
from .endpoint import Endpoint
from .headers import Headers
from .http import HTTPError, Request, Response
from .scan import Scan
from .session import Session, SessionClosed

__all__ = [
    "App",
    "BasicAuth",
    "BearerAuth",
    "ClientSession",
    "Config",
    "ConfigError",
    "Endpoint",
    "HTTPError",
    "Headers",
    "Request",
    "Response",
    "Scan",
    "ScannerConfig",
    "Session",
    "SessionClosed",
    "__version__",
    "connect",
    "hash_password",
    "load_config",
]
