"""``python -m chat_conform``: the same as the chat-conform command."""

from __future__ import annotations

from chat_conform.cli import main

main()
