"""``gridpatrol broker-config``: Mosquitto password file, ACL and config from the registry.

Each device may publish only to its own topics (native ``gridpatrol/v1/ping/{id}``, and, for
an id ``user.device``, OwnTracks ``owntracks/user/device``); the service account
``gridpatrol`` may read them and publish alerts (a device may not take its name). Passwords
are kept across runs unless rotated; ``credentials.csv`` (mode 0600) lists them for
provisioning.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import pwd
import secrets
from dataclasses import dataclass
from pathlib import Path

from base.spreadsheet import FORMULA_START, neutralise, restore
from base.topics import (
    ALERT_FILTER,
    COMMAND_PREFIX,
    OWNTRACKS_COMMAND_FILTER,
    PING_FILTERS,
    REPLY_PREFIX,
    command_topic,
    native_topic,
    owntracks_command_topic,
    owntracks_topic,
    reply_topic,
)
from gridpatrol.broker import MAX_INFLIGHT_MESSAGES, MAX_QUEUED_MESSAGES
from ingest.config import MAX_PACKET_BYTES
from ingest.decode import DEVICE_ID

SERVICE_ACCOUNT = "gridpatrol"
#: Broker users that are not devices: serve's account, and the JT/T 808 gateway's that
#: docs/jt808.md has added by hand. A device of that name would be merged into it (one
#: password line, one ACL section) and read every device's pings.
GATEWAY_ACCOUNT = "gridpatrol-jt808"
RESERVED_USERS = (SERVICE_ACCOUNT, GATEWAY_ACCOUNT)
PBKDF2_ITERATIONS = 101  # what mosquitto_passwd writes for $7$ hashes


@dataclass(frozen=True)
class BrokerFiles:
    passwd: Path
    acl: Path
    credentials: Path
    config: Path


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2 ``$7$`` (PBKDF2-SHA512) password hash."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def new_password() -> str:
    """24 URL-safe characters (18 random bytes), never starting with ``-``, so that
    credentials.csv holds it as it is, not quoted against formulas (base.spreadsheet)."""
    while True:
        password = secrets.token_urlsafe(18)
        if not password.startswith(FORMULA_START):
            return password


def device_topics(device_id: str) -> list[str]:
    topics = [native_topic(device_id)]
    user, dot, device = device_id.partition(".")
    if dot and user and device and "." not in device:
        topics.append(owntracks_topic(user, device))
    return topics


def _read_credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    with open(path, newline="") as f:
        rows = csv.DictReader(f)
        return {restore(row["username"]): restore(row["password"]) for row in rows}


def gateway_acl(terminal_devices: list[str] | None) -> list[str]:
    """The JT/T 808 gateway's ACL section: it may publish the native topic of each
    registered terminal's device, read its commands and write their replies, and nothing
    else (none: no gateway account)."""
    if terminal_devices is None:
        return []
    lines = [f"user {GATEWAY_ACCOUNT}"]
    for d in sorted(set(terminal_devices)):
        lines += [
            f"topic write {native_topic(d)}",
            f"topic read {command_topic(d)}",
            f"topic write {reply_topic(d)}",
        ]
    return [*lines, ""]


def write_broker_config(
    device_ids: list[str],
    out: Path,
    *,
    port: int = 1883,
    rotate: bool = False,
    terminal_devices: list[str] | None = None,
) -> BrokerFiles:
    """``terminal_devices``: the device ids of the JT/T 808 terminal registry, for the
    gateway's account (``gridpatrol-jt808``); None: no such account."""
    bad = [d for d in [*device_ids, *(terminal_devices or [])] if not DEVICE_ID.fullmatch(d)]
    if bad:
        raise ValueError(f"device ids not usable as MQTT user names and topics: {bad[:5]}")
    reserved = sorted(set(device_ids) & set(RESERVED_USERS))
    if reserved:
        raise ValueError(
            f"device ids {reserved} are the broker accounts of gridpatrol itself: "
            "rename those devices"
        )
    if not out.exists():  # Mosquitto, dropped to its own user, must reach the files
        out.mkdir(parents=True)
        out.chmod(0o755)
    files = BrokerFiles(
        out / "passwd", out / "acl", out / "credentials.csv", out / "mosquitto.conf"
    )
    known = {} if rotate else _read_credentials(files.credentials)
    gateway = [GATEWAY_ACCOUNT] if terminal_devices is not None else []
    users = [SERVICE_ACCOUNT, *gateway, *device_ids]
    passwords = {u: known.get(u) or new_password() for u in users}

    fd = os.open(files.credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["username", "password"])
        writer.writerows((neutralise(u), neutralise(passwords[u])) for u in users)
    os.chmod(files.credentials, 0o600)

    files.passwd.write_text("".join(f"{u}:{hash_password(passwords[u])}\n" for u in users))
    acl = [
        "# written by gridpatrol broker-config: each device publishes only its own topics",
        f"user {SERVICE_ACCOUNT}",
        *(f"topic read {t}" for t in PING_FILTERS),
        f"topic readwrite {ALERT_FILTER}",
        f"topic write {COMMAND_PREFIX}#",  # commands down (docs/mqtt.md, "Commands")
        f"topic read {REPLY_PREFIX}#",
        f"topic write {OWNTRACKS_COMMAND_FILTER}",
        "",
        *gateway_acl(terminal_devices),
    ]
    for device in device_ids:
        acl.append(f"user {device}")
        acl += [f"topic write {t}" for t in device_topics(device)]
        phone_commands = owntracks_command_topic(device)
        if phone_commands is not None:  # the app reads its remote commands
            acl.append(f"topic read {phone_commands}")
        acl.append("")
    files.acl.write_text("\n".join(acl))
    data = out / "data"
    data.mkdir(exist_ok=True)
    files.config.write_text(
        f"""# A working Mosquitto config for gridpatrol (written by gridpatrol broker-config)
listener {port}
allow_anonymous false
password_file {files.passwd.resolve()}
acl_file {files.acl.resolve()}
# Mosquitto's defaults throttle QoS 1 delivery (20 in flight) and drop (1000 queued)
max_inflight_messages {MAX_INFLIGHT_MESSAGES}
max_queued_messages {MAX_QUEUED_MESSAGES}
max_queued_bytes 0
# a larger packet is refused before Mosquitto or serve holds it (serve rejects payloads over
# --max-payload-bytes, 256 KiB by default, and counts them up to twice that size)
max_packet_size {MAX_PACKET_BYTES}
# the queue is saved every second: a crash loses about one second of acknowledged messages
# (autosave_interval 10 lost ten; saving on every 100 changes cut throughput 15 times with a
# backlog queued: docs/operations.md, python -m bench -t broker-durability)
persistence true
persistence_location {data.resolve()}/
autosave_interval 1

# TLS for devices on the street (certificates from your own CA):
# listener 8883
# certfile /etc/mosquitto/certs/server.crt
# keyfile /etc/mosquitto/certs/server.key
# cafile /etc/mosquitto/certs/ca.crt
# tls_version tlsv1.2
"""
    )
    _open_to_mosquitto(files, data)
    return files


def _open_to_mosquitto(files: BrokerFiles, data: Path) -> None:
    """Mosquitto started as root drops to its own user: give it the files, no one else."""
    os.chmod(files.passwd, 0o600)
    os.chmod(files.acl, 0o600)
    os.chmod(files.config, 0o644)
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("mosquitto")
        except KeyError:
            return
        for path in (files.passwd, files.acl, data):
            os.chown(path, entry.pw_uid, entry.pw_gid)
