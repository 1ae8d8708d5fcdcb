"""Test hosts of the test's own: one network namespace per host, each joined to a bridge in
the root namespace by a veth pair, on a private /24 that exists only while the test runs.
`cut(i)` takes host i off the bridge (every connection to and from it stops, as in a
network partition); `heal(i)` puts it back. Needs root and iproute2."""

from __future__ import annotations

import os
import shutil
import subprocess


def available() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class TestHosts:
    __test__ = False  # not a pytest class

    def __init__(self, count: int) -> None:
        tag = os.getpid() % 10_000
        self.prefix = f"jt{tag}"
        self.subnet = f"10.231.{tag % 250 + 1}"
        self.bridge = f"{self.prefix}br"
        self.count = count
        self.created = False

    def namespace(self, i: int) -> str:
        return f"{self.prefix}n{i}"

    def address(self, i: int) -> str:
        """Host i's address (1-based)."""
        return f"{self.subnet}.{10 + i}"

    def _host_side(self, i: int) -> str:
        return f"{self.prefix}h{i}"

    def create(self) -> None:
        self.remove()  # leftovers of a run that was killed
        self.created = True
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.subnet}.1/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in range(1, self.count + 1):
            ns, host, peer = self.namespace(i), self._host_side(i), f"{self.prefix}g{i}"
            _ip("netns", "add", ns)
            _ip("link", "add", host, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", peer)
            _ip("-n", ns, "link", "set", peer, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("link", "set", host, "master", self.bridge)
            _ip("link", "set", host, "up")

    def argv(self, i: int, command: list[str]) -> list[str]:
        """`command` run on host i."""
        return ["ip", "netns", "exec", self.namespace(i), *command]

    def cut(self, i: int) -> None:
        _ip("link", "set", self._host_side(i), "down")

    def heal(self, i: int) -> None:
        _ip("link", "set", self._host_side(i), "up")

    def remove(self) -> None:
        for i in range(1, self.count + 1):
            subprocess.run(["ip", "netns", "del", self.namespace(i)], capture_output=True)
            subprocess.run(["ip", "link", "del", self._host_side(i)], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.created = False
