"""Streams API messages (PROTOCOLS.md section 1): event builders, command parsing.

Modules: :mod:`.vocabulary` (value sets, limits, field types), :mod:`.event_models`
(event Structs, decoders, the documented projection), :mod:`.event_builders` (event
dicts), :mod:`.command_models` (command Structs, :class:`CommandError`),
:mod:`.command_parse` (:func:`parse_command` and the field rules below).

Events (server to client) are built as plain dicts, in wire order, by the
``*_event`` functions, because the journal adds ``seq`` and encodes each event
exactly once (:meth:`scanbridge.journal.Journal.append`).  The same events are
also described by typed msgspec Structs (:data:`Event`, :func:`decode_event`)
for clients and tests.

Commands (client to server) are parsed by :func:`parse_command` into the
tagged union :data:`Command`.  Field rules follow PROTOCOLS.md 1.2 and, where
it is silent, ProGlove's Streams API reference:

* every command: ``api_version`` ``"1.0"`` or ``"1.1"``; ``event_id`` a
  lowercase UUID; ``time_created`` an integer of Unix milliseconds in
  ProGlove's range ``1546300800000 ..= 99999999999999`` (this also catches
  clients that send seconds);
* ``device_serial``: 1-128 characters;
* ``feedback!``: ``feedback_action_id`` one of :data:`FEEDBACK_ACTIONS`;
* ``display!``: ``display_template_id`` 1-15 characters,
  ``display_refresh_type`` one of ``DEFAULT`` (default), ``FULL_REFRESH``,
  ``PARTIAL_REFRESH``; ``display_fields`` at most 12 objects of
  ``display_field_id`` (integer >= 1, required), ``display_field_header``
  (at most 40 characters) and ``display_field_text`` (at most 80);
  ``time_validity_duration`` integer >= 0 in ms (0, the default, means until
  the next display command);
* ``trigger_block!``: ``trigger_block_state`` boolean (required; true blocks,
  false unblocks); ``trigger_block_gesture_list`` and
  ``trigger_unblock_gesture_list`` at most 15 of :data:`TRIGGER_GESTURES`
  (empty or absent block list = all gestures; empty or absent unblock list =
  no gesture unblocks); ``time_validity_duration`` integer >= 0 (0 = until
  unblocked);
* ``feedback!``, ``display!`` and ``trigger_block!`` also take ProGlove's
  ``event_time_to_live_duration`` (integer >= 0, ms; 0 = no limit);
* ``gateway_state!``: nothing more;
* ``scanner_connectivity!``: at least one of ``connect`` and ``disconnect``.
  ``disconnect`` is ``"all"`` or a list of 1-50 serials (1-128 characters
  each).  ``connect`` is the same, or ProGlove's ``true`` ("pair a new
  scanner"); ``false`` counts as absent.

Decisions:

* Unknown extra fields are accepted and ignored (forward compatibility: newer
  clients and ProGlove extensions must not break older servers).
* ``null`` for an optional field counts as absent (clients serialising
  ``None``/``undefined``); ``null`` for a required field is an error.
* ``api_version`` ``"1.1"`` is accepted on every command.
* Lengths are counted in Unicode code points.
* :class:`CommandError` messages name the field and the rule, e.g.
  ``display_fields[3].display_field_text is 95 characters, at most 80 are
  allowed``; :func:`error_event` cuts ``error_message`` to ProGlove's 128
  characters.
* ``scan_bytes``: see :func:`scan_event`.
"""

from __future__ import annotations

from .command_models import (
    COMMAND_CLASSES,
    COMMAND_TYPES,
    Command,
    CommandError,
    DisplayCommand,
    DisplayField,
    FeedbackCommand,
    GatewayStateCommand,
    ScannerConnectivityCommand,
    SerialList,
    TriggerBlockCommand,
    command_type,
)
from .command_parse import (
    parse_command,
)
from .event_builders import (
    button_pressed_event,
    command_ack_event,
    encode,
    error_event,
    gateway_state_event,
    new_event_id,
    now_ms,
    scan_event,
    scanner_state_event,
    symbology_from_aim,
)
from .event_models import (
    DOCUMENTED_FIELDS,
    EVENT_TYPES,
    ButtonPressedEvent,
    ButtonPressedEventExt,
    CommandAckEvent,
    DeviceInfo,
    DocumentedEvent,
    ErrorEvent,
    ErrorEventExt,
    ErrorMessage,
    Event,
    GatewayStateEvent,
    GatewayStateEventExt,
    ScanCode,
    ScanEvent,
    ScanEventExt,
    ScannerStateEvent,
    ScannerStateEventExt,
    decode_documented_event,
    decode_event,
    documented,
    is_event_id,
)
from .vocabulary import (
    API_VERSION,
    COMMAND_API_VERSIONS,
    CONNECTIVITY_SERIALS_MAX,
    DEVICE_LIST_MAX,
    DEVICE_STATES,
    DISPLAY_FIELDS_MAX,
    DISPLAY_HEADER_MAX,
    DISPLAY_REFRESH_TYPES,
    DISPLAY_TEMPLATE_ID_MAX,
    DISPLAY_TEXT_MAX,
    DOCUMENTED_ERROR_CODES,
    ERROR_CODES,
    ERROR_MESSAGE_MAX,
    ERROR_SEVERITIES,
    FEEDBACK_ACTIONS,
    GESTURE_LIST_MAX,
    SCAN_CODE_MAX,
    SERIAL_MAX,
    TIME_CREATED_MAX,
    TIME_CREATED_MIN,
    TRIGGER_GESTURES,
    UUID_RE,
    CommandApiVersion,
    DeviceState,
    DocumentedErrorCode,
    ErrorCode,
    EventId,
    FeedbackAction,
    Millis,
    RefreshType,
    Serial,
    Severity,
    TimeCreated,
    TriggerGesture,
)

__all__ = [
    "API_VERSION",
    "COMMAND_API_VERSIONS",
    "COMMAND_CLASSES",
    "COMMAND_TYPES",
    "CONNECTIVITY_SERIALS_MAX",
    "DEVICE_LIST_MAX",
    "DEVICE_STATES",
    "DISPLAY_FIELDS_MAX",
    "DISPLAY_HEADER_MAX",
    "DISPLAY_REFRESH_TYPES",
    "DISPLAY_TEMPLATE_ID_MAX",
    "DISPLAY_TEXT_MAX",
    "DOCUMENTED_ERROR_CODES",
    "DOCUMENTED_FIELDS",
    "ERROR_CODES",
    "ERROR_MESSAGE_MAX",
    "ERROR_SEVERITIES",
    "EVENT_TYPES",
    "FEEDBACK_ACTIONS",
    "GESTURE_LIST_MAX",
    "SCAN_CODE_MAX",
    "SERIAL_MAX",
    "TIME_CREATED_MAX",
    "TIME_CREATED_MIN",
    "TRIGGER_GESTURES",
    "UUID_RE",
    "ButtonPressedEvent",
    "ButtonPressedEventExt",
    "Command",
    "CommandAckEvent",
    "CommandApiVersion",
    "CommandError",
    "DeviceInfo",
    "DeviceState",
    "DisplayCommand",
    "DisplayField",
    "DocumentedErrorCode",
    "DocumentedEvent",
    "ErrorCode",
    "ErrorEvent",
    "ErrorEventExt",
    "ErrorMessage",
    "Event",
    "EventId",
    "FeedbackAction",
    "FeedbackCommand",
    "GatewayStateCommand",
    "GatewayStateEvent",
    "GatewayStateEventExt",
    "Millis",
    "RefreshType",
    "ScanCode",
    "ScanEvent",
    "ScanEventExt",
    "ScannerConnectivityCommand",
    "ScannerStateEvent",
    "ScannerStateEventExt",
    "Serial",
    "SerialList",
    "Severity",
    "TimeCreated",
    "TriggerBlockCommand",
    "TriggerGesture",
    "button_pressed_event",
    "command_ack_event",
    "command_type",
    "decode_documented_event",
    "decode_event",
    "documented",
    "encode",
    "error_event",
    "gateway_state_event",
    "is_event_id",
    "new_event_id",
    "now_ms",
    "parse_command",
    "scan_event",
    "scanner_state_event",
    "symbology_from_aim",
]
