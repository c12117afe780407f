"""Several "machines" on one: network namespaces on a bridge (Linux, as root).

The test's broker and PostgreSQL stay in the root namespace and listen on the bridge's
address too (the gateway); each :class:`Host` is a namespace with one veth link to the
bridge and an address of its own, so its processes reach the broker and the catalog over a
network, as on another machine, and their link can be cut (:meth:`Network.cut`)."""

from __future__ import annotations

import ipaddress
import subprocess
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Host:
    netns: str
    address: str  # its own address on the bridge
    gateway: str  # the bridge's: where the broker and PostgreSQL listen
    link: str  # the host side of its veth pair (cut to partition it)


def ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 under 10.200.0.0/13 that no route of this machine touches."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    taken = [
        ipaddress.ip_network(r.split()[0], strict=False)
        for r in routes.splitlines()
        if r and r.split()[0][0].isdigit()
    ]
    for net in ipaddress.ip_network("10.200.0.0/13").subnets(new_prefix=24):
        if not any(net.overlaps(t) for t in taken):
            return net
    raise RuntimeError("no free 10.200.0.0/13 subnet")


class Network:
    """A bridge and ``count`` hosts on it; ``close()`` removes them all."""

    def __init__(self, count: int) -> None:
        tag = uuid.uuid4().hex[:6]
        net = free_subnet()
        addresses = [str(a) for a in net.hosts()]
        self.gateway = addresses[0]
        self.bridge = f"gpb{tag}"
        self.hosts: list[Host] = []
        try:
            ip("link", "add", self.bridge, "type", "bridge")
            ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            ip("link", "set", self.bridge, "up")
            for k in range(count):
                host = Host(f"gp{tag}{k}", addresses[k + 1], self.gateway, f"gp{tag}{k}h")
                inner = f"gp{tag}{k}n"
                ip("netns", "add", host.netns)
                self.hosts.append(host)
                ip("link", "add", host.link, "type", "veth", "peer", "name", inner)
                ip("link", "set", inner, "netns", host.netns)
                ip("link", "set", host.link, "master", self.bridge)
                ip("link", "set", host.link, "up")
                ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", inner)
                ip("-n", host.netns, "link", "set", inner, "up")
                ip("-n", host.netns, "link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    def cut(self, host: Host) -> None:
        """Partition ``host``: its packets go nowhere (TCP connections wait, unbroken)."""
        ip("link", "set", host.link, "down")

    def mend(self, host: Host) -> None:
        ip("link", "set", host.link, "up")

    def close(self) -> None:
        for host in self.hosts:
            subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)
            subprocess.run(["ip", "link", "del", host.link], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
