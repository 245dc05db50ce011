"""kombu's file-system transport, with messages that appear whole.

kombu (5.x) creates a message file, then locks it, then writes it. A consumer polling the folder
in between moves the still-empty file away, fails to decode it and the message is lost; with
the embedded broker that meant an ingest, a training run or an agreement refresh that never
happened. Here a message is written under a name no queue matches and renamed into place
once complete (``os.replace`` is atomic within a folder).

Both Celery apps (the backend's and the ML worker's) use it for ``filesystem://`` through
``use_atomic_filesystem_transport()``. Only kombu is imported: no Django, no torch.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

ALIAS = "filesystem"
TRANSPORT_PATH = "ml_worker.broker:Transport"


class Channel(filesystem.Channel):
    # kombu's two base classes disagree on this signature; this one matches filesystem's.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot and no ".msg" ending: no consumer's name filter matches it.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel


def use_atomic_filesystem_transport() -> None:
    """Make ``filesystem://`` broker URLs use this transport in this process."""
    TRANSPORT_ALIASES[ALIAS] = TRANSPORT_PATH
