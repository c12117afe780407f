"""The lake's processes on several "machines": network namespaces on a bridge, so workers
and the stage reach the broker and PostgreSQL over a network link, not loopback, and a
worker's link can be cut under load (Linux, as root: CI runs as root)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.tokens import add_token
from conftest import Lake
from tests.integration.lake_roles import Publisher, Serves, assert_stored_once, stream
from tests.integration.netns import Network
from tests.mqtt_helpers import wait_for
from tests.processes import Brokers, Clusters

pytestmark = [
    pytest.mark.broker,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
]


@pytest.fixture
def network() -> Iterator[Network]:
    net = Network(3)
    yield net
    net.close()


def test_workers_and_a_stage_on_other_hosts_lose_nothing_when_a_link_is_cut(
    network: Network, brokers: Brokers, clusters: Clusters, serves: Serves, tmp_path: Path
):
    """Two ingest workers and the stage, each on a host of its own, reach Mosquitto and
    PostgreSQL over the bridge. One worker's link is cut for 8 s while pings flow: the
    broker drops it after its keep-alive, its commit waits on PostgreSQL and nothing
    unacknowledged is lost; once the link is back it returns to its session, and every
    ping is stored exactly once. The stage's API answers on its host's address."""
    broker = brokers(also_on=(network.gateway,))
    postgres = clusters(also_on=network.gateway)
    a, b, c = network.hosts
    postgres.create_database("hosts")
    lake = Lake(postgres.attach("hosts"), tmp_path / "lake", "hosts")
    group = f"h{uuid.uuid4().hex[:6]}"
    tokens = tmp_path / "tokens.json"
    _, token = add_token(tokens, "admin", [], "test")  # off loopback the API needs them
    stage = serves(lake, broker, "stage", f"{group}-s", "--tokens", str(tokens), host=c)
    stage.token = token
    stage.wait_for_line("leading the stage")
    assert stage.http is not None and stage.http.startswith(c.address)
    workers = [  # a keep-alive of 2 s: the broker drops a worker silent for 3 s
        *serves.workers(lake, broker, group, 1, "--keepalive-s", "2", host=a),
        *serves.workers(lake, broker, group, 1, "--keepalive-s", "2", host=b),
    ]
    total = 4_000
    publisher = Publisher(broker, stream(total, time.time() - 86400, group), per_s=1000)
    wait_for(lambda: publisher.sent() > total // 4, 30, what="a quarter published")
    network.cut(a)
    time.sleep(8.0)  # well past 1.5 keep-alives, whenever the broker checks
    network.mend(a)
    publisher.finish()
    assert_stored_once(lake, stage, total)
    # the cut was real: the broker dropped the silent worker, which came back to
    # its session (its unacknowledged messages were kept for it)
    assert workers[0].saw("session present: True"), "".join(workers[0].lines)
    stats = stage.get("stats")
    assert stats["stored"] == total, stats  # type: ignore[index]
