"""Live progress of a run: elapsed / time limit, ok/fail/info counts, the nemesis state.

On a terminal it is a rich Live panel; elsewhere (CI logs) a plain status line every few seconds,
so a log shows the same facts without control characters.
"""

from __future__ import annotations

from typing import Any, Callable

import trio
from rich.console import Console
from rich.live import Live
from rich.table import Table


class LiveStatus:
    def __init__(self, time_limit: float, console: Console | None = None, quiet: bool = False):
        self.time_limit = time_limit
        self.console = console or Console(stderr=True)
        self.quiet = quiet
        self.started_at = 0.0
        self.current_phase = "prepare"
        self._live: Live | None = None
        self._writer: Any = None
        self._nemesis: Callable[[], str] = lambda: "none"

    def phase(self, name: str) -> None:
        self.current_phase = name
        if not self.quiet and self._live is None:
            self.console.print(f"[bold]{name}[/bold]…")

    def note(self, message: str) -> None:
        if not self.quiet:
            self.console.print(f"[yellow]{message}[/yellow]")

    def start(self) -> None:
        self.started_at = trio.current_time()

    def _table(self) -> Table:
        elapsed = max(0.0, trio.current_time() - self.started_at) if self.started_at else 0.0
        counts = self._writer.counts if self._writer else {}
        t = Table.grid(padding=(0, 2))
        t.add_row("[bold]elapsed[/bold]", f"{min(elapsed, self.time_limit):5.1f} / "
                                          f"{self.time_limit:g} s  ({self.current_phase})")
        t.add_row("[bold]ops[/bold]", f"[green]ok {counts.get('ok', 0)}[/green]  "
                                      f"[red]fail {counts.get('fail', 0)}[/red]  "
                                      f"[yellow]info {counts.get('info', 0)}[/yellow]")
        t.add_row("[bold]nemesis[/bold]", self._nemesis())
        return t

    def _line(self) -> str:
        elapsed = max(0.0, trio.current_time() - self.started_at)
        c = self._writer.counts
        return (f"{elapsed:5.1f}/{self.time_limit:g}s ok={c.get('ok', 0)} fail={c.get('fail', 0)} "
                f"info={c.get('info', 0)} nemesis={self._nemesis()}")

    async def run(self, writer: Any, nemesis_state: Callable[[], str]) -> None:
        self._writer, self._nemesis = writer, nemesis_state
        if self.quiet:
            await trio.sleep_forever()
        if self.console.is_terminal:
            self._live = Live(self._table(), console=self.console, refresh_per_second=4,
                              transient=False)
            self._live.start()
            try:
                while True:
                    self._live.update(self._table())
                    await trio.sleep(0.25)
            finally:
                self._live.update(self._table())
                self._live.stop()
                self._live = None
        else:
            while True:
                await trio.sleep(5)
                self.console.print(self._line(), markup=False, highlight=False)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
