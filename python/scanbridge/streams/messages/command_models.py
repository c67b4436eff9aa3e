"""Client-to-server commands as typed Structs, and :class:`CommandError`."""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias, get_args

import msgspec

from ...errors import ScanbridgeError
from .event_builders import error_event
from .vocabulary import (
    CONNECTIVITY_SERIALS_MAX,
    DISPLAY_FIELDS_MAX,
    DISPLAY_HEADER_MAX,
    DISPLAY_TEMPLATE_ID_MAX,
    DISPLAY_TEXT_MAX,
    GESTURE_LIST_MAX,
    CommandApiVersion,
    EventId,
    FeedbackAction,
    Millis,
    RefreshType,
    Serial,
    TimeCreated,
    TriggerGesture,
)


class DisplayField(msgspec.Struct, kw_only=True):
    display_field_id: Annotated[int, msgspec.Meta(ge=1)]
    display_field_header: Annotated[str, msgspec.Meta(max_length=DISPLAY_HEADER_MAX)] = ""
    display_field_text: Annotated[str, msgspec.Meta(max_length=DISPLAY_TEXT_MAX)] = ""


class _CommandBase(msgspec.Struct, kw_only=True, tag_field="event_type"):
    api_version: CommandApiVersion
    event_id: EventId
    time_created: TimeCreated


class FeedbackCommand(_CommandBase, tag="feedback!"):
    device_serial: Serial
    feedback_action_id: FeedbackAction
    event_time_to_live_duration: Millis = 0


class DisplayCommand(_CommandBase, tag="display!"):
    device_serial: Serial
    display_template_id: Annotated[
        str, msgspec.Meta(min_length=1, max_length=DISPLAY_TEMPLATE_ID_MAX)
    ]
    display_refresh_type: RefreshType = "DEFAULT"
    display_fields: Annotated[list[DisplayField], msgspec.Meta(max_length=DISPLAY_FIELDS_MAX)] = (
        msgspec.field(default_factory=list)
    )
    time_validity_duration: Millis = 0
    event_time_to_live_duration: Millis = 0


class TriggerBlockCommand(_CommandBase, tag="trigger_block!"):
    device_serial: Serial
    trigger_block_state: bool
    trigger_block_gesture_list: Annotated[
        list[TriggerGesture], msgspec.Meta(max_length=GESTURE_LIST_MAX)
    ] = msgspec.field(default_factory=list)
    trigger_unblock_gesture_list: Annotated[
        list[TriggerGesture], msgspec.Meta(max_length=GESTURE_LIST_MAX)
    ] = msgspec.field(default_factory=list)
    time_validity_duration: Millis = 0
    event_time_to_live_duration: Millis = 0


class GatewayStateCommand(_CommandBase, tag="gateway_state!"):
    pass


SerialList = Annotated[
    list[Serial], msgspec.Meta(min_length=1, max_length=CONNECTIVITY_SERIALS_MAX)
]


class ScannerConnectivityCommand(_CommandBase, tag="scanner_connectivity!"):
    connect: bool | Literal["all"] | SerialList | None = None
    """``True`` (ProGlove: pair a new scanner), ``"all"`` or serials; None = not asked."""
    disconnect: Literal["all"] | SerialList | None = None


Command: TypeAlias = (
    FeedbackCommand
    | DisplayCommand
    | TriggerBlockCommand
    | GatewayStateCommand
    | ScannerConnectivityCommand
)

COMMAND_CLASSES: Final[dict[str, type[Command]]] = {
    str(cls.__struct_config__.tag): cls for cls in get_args(Command)
}
"""event_type -> its Struct (the tags of the Structs are the one list of commands)."""
COMMAND_TYPES: Final = tuple(sorted(COMMAND_CLASSES))


class CommandError(ScanbridgeError, ValueError):
    """A command that cannot be carried out as sent (answered with an ``errors`` event).

    ``error_code`` is ``ERROR_INVALID_COMMAND``; ``reference_id`` is the
    command's ``event_id`` when it could be read (else None); ``field`` is the
    path of the offending field (e.g. ``display_fields[3].display_field_text``)
    or None when the message as a whole is at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        reference_id: str | None = None,
        field: str | None = None,
        error_code: str = "ERROR_INVALID_COMMAND",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reference_id = reference_id
        self.field = field
        self.error_code = error_code

    def event(
        self, *, device_serial: str | None = None, gateway_serial: str | None = None
    ) -> dict[str, Any]:
        """The ``errors`` event that answers the failed command."""
        return error_event(
            self.reference_id,
            self.error_code,
            self.message,
            device_serial=device_serial,
            gateway_serial=gateway_serial,
        )


def command_type(cmd: Command) -> str:
    """A parsed command's ``event_type`` (the tag of its Struct), e.g. ``"display!"``."""
    return str(type(cmd).__struct_config__.tag)
