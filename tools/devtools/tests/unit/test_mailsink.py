"""The mail sink's list: newest first, each message read once however often it is polled,
and what is on disk (an earlier run's mail, a file removed) is what it shows."""

from pathlib import Path

import pytest

from junction_devtools import mailsink
from junction_devtools.mailsink import MailStore

pytestmark = pytest.mark.unit


def message(n: int, subject: str = "Your order") -> bytes:
    return (
        f"From: shop@junction.local\r\nTo: a{n}@example.com, b{n}@example.com\r\n"
        f"Subject: {subject} {n}\r\nMessage-ID: <m{n}@junction.local>\r\n\r\nbody {n}\r\n"
    ).encode()


def test_lists_newest_first_with_the_headers_tests_read(tmp_path: Path) -> None:
    store = MailStore(tmp_path)
    first, second = store.save(message(1)), store.save(message(2, "Grüße"))
    listed = store.summaries()
    assert [m["ID"] for m in listed] == [second, first]
    assert listed[0]["MessageID"] == "m2@junction.local"
    assert listed[0]["Subject"] == "Grüße 2"
    assert [a["Address"] for a in listed[1]["To"]] == ["a1@example.com", "b1@example.com"]
    assert listed[1]["Size"] == len(message(1))


def test_each_message_is_read_once_however_often_the_list_is_polled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MailStore(tmp_path)
    parsed: list[bytes] = []
    parse = mailsink.parse_stored

    def counting(raw: bytes) -> object:
        parsed.append(raw)
        return parse(raw)

    monkeypatch.setattr(mailsink, "parse_stored", counting)
    store.save(message(1))
    for _ in range(5):
        store.summaries()
    store.save(message(2))
    for _ in range(5):
        assert len(store.summaries()) == 2
    assert parsed == [message(1), message(2)]


def test_shows_what_is_on_disk(tmp_path: Path) -> None:
    earlier = MailStore(tmp_path)
    kept, removed = earlier.save(message(1)), earlier.save(message(2))
    store = MailStore(tmp_path)  # a new sink over an earlier run's folder
    assert {m["ID"] for m in store.summaries()} == {kept, removed}
    (tmp_path / f"{removed}.eml").unlink()
    assert [m["ID"] for m in store.summaries()] == [kept]
