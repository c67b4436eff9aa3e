"""Streams API (ProGlove-style scan events and scanner commands, PROTOCOLS.md section 1)."""

from .messages import (
    Command,
    CommandError,
    Event,
    button_pressed_event,
    command_ack_event,
    decode_event,
    encode,
    error_event,
    gateway_state_event,
    parse_command,
    scan_event,
    scanner_state_event,
)

__all__ = [
    "Command",
    "CommandError",
    "Event",
    "button_pressed_event",
    "command_ack_event",
    "decode_event",
    "encode",
    "error_event",
    "gateway_state_event",
    "parse_command",
    "scan_event",
    "scanner_state_event",
]
