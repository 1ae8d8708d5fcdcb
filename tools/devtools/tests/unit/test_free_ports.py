"""Ports for test platforms: free, distinct, and never ones the kernel may hand out as an
outgoing connection's local port before the service binds them."""

import socket

import pytest

from junction_devtools.platform import ephemeral_ports, free_ports

pytestmark = pytest.mark.unit


def test_free_ports_are_distinct_bindable_and_below_the_ephemeral_range() -> None:
    names = [f"p{i}" for i in range(40)]
    ports = free_ports(names)
    assert list(ports) == names and len(set(ports.values())) == len(names)
    low, _ = ephemeral_ports()
    assert all(port < low for port in ports.values())
    for port in ports.values():
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_in_use_is_passed_over() -> None:
    # Hold nearly every candidate at once: what free_ports picks must still be free.
    chosen = free_ports([f"p{i}" for i in range(200)])
    held = []
    try:
        for port in chosen.values():
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            held.append(s)
        again = free_ports([f"q{i}" for i in range(200)])
        assert not set(again.values()) & set(chosen.values())
    finally:
        for s in held:
            s.close()


def test_no_port_is_handed_out_twice_by_one_process() -> None:
    # A platform asks in several calls and binds later: a port chosen but not yet bound
    # must not come back from the next call.
    seen: list[int] = []
    for _ in range(50):  # 750 ports of some 12,000: on the old code, certain to repeat
        seen += free_ports([f"p{i}" for i in range(15)]).values()
    assert len(set(seen)) == len(seen)
