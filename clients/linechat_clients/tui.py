"""linechat-tui: a full-screen linechat/1 client (``pip install 'linechat[tui]'``).

This module only parses the command line; the application lives in ``tui_app`` so that a
missing Textual gives a one-line hint instead of a traceback.
"""

from __future__ import annotations

import sys

import click

__all__ = ["main"]

MISSING_TEXTUAL = "linechat-tui needs Textual: pip install 'linechat[tui]'"


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Server address.")
@click.option("--port", type=click.IntRange(1, 65535), default=7777, show_default=True)
@click.option("--name", help="Your name in the chat (asked for on screen if not given).")
def cli(host: str, port: int, name: str | None) -> None:
    """A full-screen linechat/1 chat client. Ctrl+Q quits."""
    try:
        from linechat_clients.tui_app import ChatApp
    except ModuleNotFoundError as exc:
        if exc.name not in ("textual", "rich") and not (exc.name or "").startswith("textual."):
            raise
        click.echo(MISSING_TEXTUAL, err=True)
        sys.exit(1)
    ChatApp(host, port, name).run()


def main() -> None:
    """``linechat-tui``."""
    cli()


if __name__ == "__main__":
    main()
