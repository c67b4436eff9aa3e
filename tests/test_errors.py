"""Every exception class scanbridge defines derives from ScanbridgeError, so
one ``except ScanbridgeError`` catches whatever scanbridge raises on purpose."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import scanbridge
from scanbridge import errors
from scanbridge.errors import ConfigError, ScanbridgeError


def _modules() -> list[object]:
    found = []
    for info in pkgutil.walk_packages(scanbridge.__path__, "scanbridge."):
        if info.name.endswith("__main__"):
            continue  # running it is its import
        try:
            found.append(importlib.import_module(info.name))
        except ImportError:  # an optional extra (bleak, evdev) is not installed
            continue
    return found


def test_every_exception_class_derives_from_the_base() -> None:
    outside = []
    seen = 0
    for module in _modules():
        for name, obj in vars(module).items():
            if (
                not name.startswith("_")  # private ones never leave their module
                and inspect.isclass(obj)
                and issubclass(obj, BaseException)
                and obj.__module__ == module.__name__  # type: ignore[attr-defined]
            ):
                seen += 1
                if not issubclass(obj, ScanbridgeError):
                    outside.append(f"{obj.__module__}.{name}")
    assert seen >= 15  # the walk did find them
    assert outside == []


def test_the_errors_module_names_config_error() -> None:
    assert errors.ConfigError is ConfigError is scanbridge.ConfigError
    assert issubclass(ConfigError, ScanbridgeError) and issubclass(ConfigError, ValueError)
    assert set(errors.__all__) >= {"ConfigError", "ScanbridgeError", "QueueFull"}
