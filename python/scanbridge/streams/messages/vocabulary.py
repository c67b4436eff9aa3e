"""The Streams API's vocabulary: every value set written once (a Literal type;
the tuples are derived), the limits, and the annotated field types."""

from __future__ import annotations

import re
from typing import Annotated, Final, Literal, TypeAlias, get_args

import msgspec

API_VERSION: Final = "1.0"
"""The api_version of every event the server sends."""

CommandApiVersion: TypeAlias = Literal["1.0", "1.1", "1.2"]
COMMAND_API_VERSIONS: Final = get_args(CommandApiVersion)

# Each value set is written once, as a Literal type; the tuples are derived.
FeedbackAction: TypeAlias = Literal[
    "FEEDBACK_POSITIVE",
    "FEEDBACK_NEGATIVE",
    "FEEDBACK_SPECIAL_YELLOW",
    "FEEDBACK_SPECIAL_PURPLE",
    "FEEDBACK_SPECIAL_CYAN",
]
RefreshType: TypeAlias = Literal["DEFAULT", "FULL_REFRESH", "PARTIAL_REFRESH"]
TriggerGesture: TypeAlias = Literal[
    "TRIGGER_SINGLE_CLICK", "TRIGGER_DOUBLE_CLICK", "TRIGGER_TRIPLE_CLICK"
]
Severity: TypeAlias = Literal["WARNING", "ERROR", "CRITICAL"]
DeviceState: TypeAlias = Literal["STATE_CONNECTED", "STATE_DISCONNECTED"]
DocumentedErrorCode: TypeAlias = Literal[
    "ERROR_UNKNOWN",
    "ERROR_OK",
    "ERROR_INVALID_COMMAND",
    "ERROR_TIMEOUT",
    "ERROR_DEVICE_NOT_FOUND",
]
ErrorCode: TypeAlias = DocumentedErrorCode | Literal["ERROR_REPLAY_GAP"]

FEEDBACK_ACTIONS: Final = get_args(FeedbackAction)
DISPLAY_REFRESH_TYPES: Final = get_args(RefreshType)
TRIGGER_GESTURES: Final = get_args(TriggerGesture)
ERROR_SEVERITIES: Final = get_args(Severity)
DEVICE_STATES: Final = get_args(DeviceState)
DOCUMENTED_ERROR_CODES: Final = get_args(DocumentedErrorCode)
"""The error codes ProGlove documents (the documented field set sends only these)."""
ERROR_CODES: Final = (*DOCUMENTED_ERROR_CODES, "ERROR_REPLAY_GAP")
"""Every error code; ``ERROR_REPLAY_GAP`` is an extension (PROTOCOLS.md 1.3)."""

TIME_CREATED_MIN: Final = 1_546_300_800_000
"""ProGlove's lower bound for time_created (2019-01-01 in ms)."""
TIME_CREATED_MAX: Final = 99_999_999_999_999

SERIAL_MAX: Final = 128
SCAN_CODE_MAX: Final = 2000
DEVICE_LIST_MAX: Final = 50
DISPLAY_TEMPLATE_ID_MAX: Final = 15
DISPLAY_FIELDS_MAX: Final = 12
DISPLAY_HEADER_MAX: Final = 40
DISPLAY_TEXT_MAX: Final = 80
GESTURE_LIST_MAX: Final = 15
CONNECTIVITY_SERIALS_MAX: Final = 50
ERROR_MESSAGE_MAX: Final = 128

UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Serial = Annotated[str, msgspec.Meta(min_length=1, max_length=SERIAL_MAX)]
Millis = Annotated[int, msgspec.Meta(ge=0)]
TimeCreated = Annotated[int, msgspec.Meta(ge=TIME_CREATED_MIN, le=TIME_CREATED_MAX)]
EventId = Annotated[str, msgspec.Meta(pattern=f"^{UUID_RE.pattern}$")]
