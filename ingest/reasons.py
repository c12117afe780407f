"""Reason codes for rejected pings: the values of ``rejected.reason`` and of ``stats``."""

from enum import StrEnum


class Reason(StrEnum):
    MALFORMED_JSON = "malformed_json"  # not parseable as JSON
    NOT_UTF8 = "not_utf8"  # payload bytes are not UTF-8
    PAYLOAD_TOO_LARGE = "payload_too_large"  # over max_payload_bytes
    BATCH_TOO_LARGE = "batch_too_large"  # a JSON array longer than max_batch_items
    EMPTY_BATCH = "empty_batch"  # a JSON array with nothing in it
    BAD_TOPIC = "bad_topic"  # topic not of a known form, or device id not allowed
    WRONG_TYPE = "wrong_type"  # a field or the payload has the wrong JSON type
    MISSING_FIELD = "missing_field"  # ts/lat/lon (native) or tst/lat/lon (OwnTracks) absent
    NON_FINITE = "non_finite"  # a number is NaN or infinite
    LAT_OUT_OF_RANGE = "lat_out_of_range"  # |lat| > 90
    LON_OUT_OF_RANGE = "lon_out_of_range"  # |lon| > 180
    ACC_OUT_OF_RANGE = "acc_out_of_range"  # a negative horizontal accuracy
    NULL_ISLAND = "null_island"  # the (0, 0) fix of a receiver with no fix
    BAD_TIMESTAMP = "bad_timestamp"  # a string ts that is not RFC 3339 with an offset
    TS_MILLISECONDS = "ts_milliseconds"  # an epoch that looks like milliseconds, not seconds
    TS_FUTURE = "ts_future"  # more than max_future_s ahead of the receive time
    TS_TOO_OLD = "ts_too_old"  # more than max_age_s before the receive time
    ID_MISMATCH = "id_mismatch"  # payload id differs from the topic's device id
    UNKNOWN_DEVICE = "unknown_device"  # strict registry and the device is not registered
    OFF_DUTY = "off_duty"  # --off-duty drop: a rostered device's fix outside its shifts
