"""A local SMTP sink for the demo and for trying qaloop out: aiosmtpd saving every message as a .eml file."""

from __future__ import annotations

import re
from pathlib import Path

from aiosmtpd.controller import Controller


class _SaveToFolder:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's hook
        self.count += 1
        recipient = re.sub(r"[^A-Za-z0-9.@-]", "_", envelope.rcpt_tos[0] if envelope.rcpt_tos else "unknown")
        (self.folder / f"{self.count:05d} to {recipient}.eml").write_bytes(
            envelope.original_content or envelope.content
        )
        return "250 Message accepted for delivery"


def start_sink(folder: Path, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the sink in a background thread; stop it with ``.stop()``. Messages land in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_SaveToFolder(folder), hostname=host, port=port)
    controller.start()
    return controller
