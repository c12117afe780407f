"""Why the gateway dropped, refused or did not publish something: the ``reason`` label values
of ``gridpatrol_jt808_dropped_total`` in the gateway's ``/metrics``."""

from enum import StrEnum


class Drop(StrEnum):
    GARBAGE = "garbage"  # bytes before a connection's first 0x7E
    BAD_ESCAPE = "bad_escape"  # 0x7D not followed by 0x01 or 0x02 (also at a frame's end)
    BAD_CHECK = "bad_check"  # the XOR check code disagrees: the frame is dropped unanswered
    SHORT_FRAME = "short_frame"  # fewer bytes than a header and a check code
    LENGTH_MISMATCH = "length_mismatch"  # the header's body length disagrees with the frame
    FRAME_TOO_LARGE = "frame_too_large"  # over max_frame_bytes before its closing 0x7E
    BAD_BCD = "bad_bcd"  # a BCD nibble above 9 (phone number or time)
    BAD_TIME = "bad_time"  # BCD digits that are no calendar time
    BAD_BODY = "bad_body"  # a body shorter than its message's fixed fields
    ENCRYPTED = "encrypted"  # RSA-encrypted bodies are not supported
    BAD_SUBPACKAGE = "bad_subpackage"  # total 0, index 0 or index above total
    SUBPACKAGE_LIMIT = "subpackage_limit"  # too many parts, bytes or open reassemblies
    SUBPACKAGE_EXPIRED = "subpackage_expired"  # a message whose parts never all came
    UNSUPPORTED = "unsupported"  # a message id we do not handle (answered with result 3)
    NOT_POSITIONED = "not_positioned"  # no positioned status bit, coordinates off the Earth
    UNAUTHENTICATED = "unauthenticated"  # a location from a connection not authenticated
    AUTH_FAILED = "auth_failed"  # an authentication code that is not this phone's
    UNKNOWN_TERMINAL = "unknown_terminal"  # 0x0100 or a report of a phone not in the registry
    ALREADY_REGISTERED = "already_registered"  # 0x0100 of a terminal that has its code
    REGISTRY_ERROR = "registry_error"  # a code that could not be stored: unanswered
    BROKER_AWAY = "broker_away"  # not published (and not answered): the terminal retries
    BROKER_REFUSED = "broker_refused"  # a PUBACK with an error reason code (e.g. not authorised)
    PUBACK_TIMEOUT = "puback_timeout"  # no PUBACK in time: not answered, the terminal retries
    IDLE_TIMEOUT = "idle_timeout"  # no whole frame for idle_timeout_s: closed
    FRAME_TIMEOUT = "frame_timeout"  # a frame not complete frame_timeout_s after its start: closed
    CONNECTION_LIMIT = "connection_limit"  # over max_connections: refused at once
    ADDRESS_LIMIT = "address_limit"  # over max_connections_per_address: refused at once
    BAD_COMMAND = "bad_command"  # a command from serve not readable or not sendable: not sent
