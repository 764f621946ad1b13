"""What the CLI tells the pytest plugin, in the CLI process and in every xdist worker.

xdist workers are separate processes that re-parse pytest's command line, so the settings
travel as one JSON command-line option rather than as Python objects.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from chat_conform.launcher import ServerCommand
from chat_conform.loadconfig import LoadConfig

OPTION = "--chat-conform-settings"


@dataclass(frozen=True)
class Settings:
    """One run's configuration. Exactly one of ``server_argv`` and ``connect`` is set."""

    server_argv: tuple[str, ...] | None  # the --server command template, split
    connect: tuple[str, int] | None  # --connect HOST:PORT: a shared, already running server
    fixed_port: int | None  # --port: the server's hard-coded port
    startup_timeout: float
    timeout: float
    seed: int
    repeat: int = 1
    selected: tuple[str, ...] = field(default_factory=tuple)  # check names to run
    profile: str = "linechat"  # or a dialect: a built-in profile's name or a TOML file's path
    quiet_period: float | None = None  # --quiet-period (dialects); None: the profile's
    load: LoadConfig = field(default_factory=LoadConfig)  # --clients, --messages, ... (--load)

    @property
    def server_command(self) -> ServerCommand | None:
        return None if self.server_argv is None else ServerCommand(self.server_argv)

    @property
    def shared_server(self) -> bool:
        """True with --connect: all checks share one server that others may use too."""
        return self.connect is not None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data = json.loads(text)
        argv = data["server_argv"]
        connect = data["connect"]
        return cls(
            server_argv=None if argv is None else tuple(argv),
            connect=None if connect is None else (str(connect[0]), int(connect[1])),
            fixed_port=data["fixed_port"],
            startup_timeout=float(data["startup_timeout"]),
            timeout=float(data["timeout"]),
            seed=int(data["seed"]),
            repeat=int(data["repeat"]),
            selected=tuple(data["selected"]),
            profile=str(data.get("profile", "linechat")),
            quiet_period=data.get("quiet_period"),
            load=LoadConfig.from_dict(data.get("load")),
        )
