"""The embedded broker never hands a consumer half a message."""

from __future__ import annotations

import threading
from pathlib import Path

from kombu import Connection
from kombu.transport import TRANSPORT_ALIASES

from ml_worker.broker import TRANSPORT_PATH, Transport


def _channel(folder: Path):
    connection = Connection(
        transport=Transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "store_processed": False,
            "processed_folder": str(folder.parent / "processed"),
        },
    )
    return connection, connection.default_channel


def test_a_consumer_polling_while_messages_are_written_gets_every_one_whole(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (tmp_path / "processed").mkdir()
    writer_conn, writer = _channel(folder)
    reader_conn, reader = _channel(folder)
    big = "x" * 200_000  # large enough that writing takes a while
    total = 300
    received: list[dict] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() or len(received) < total:
            try:
                received.append(reader._get("q"))
            except Exception as exc:
                if type(exc).__name__ != "Empty":
                    errors.append(exc)
                    return
            if done.is_set() and len(received) >= total:
                return

    thread = threading.Thread(target=consume)
    thread.start()
    for n in range(total):
        writer._put("q", {"n": n, "body": big})
    done.set()
    thread.join(timeout=60)
    writer_conn.release()
    reader_conn.release()
    assert errors == []
    assert sorted(m["n"] for m in received) == list(range(total))
    assert all(m["body"] == big for m in received)
    assert not list(folder.iterdir())  # nothing left behind, no partial files


def test_both_celery_apps_use_it_for_filesystem_urls():
    import backend.config.celery  # noqa: F401 - registers the alias on import
    import ml_worker.celery_app  # noqa: F401

    assert TRANSPORT_ALIASES["filesystem"] == TRANSPORT_PATH
