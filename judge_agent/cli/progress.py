"""The progress bar of `evaluate` and `validate`: a `ProgressSink` drawn with rich on stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

if TYPE_CHECKING:
    from judge_agent.records import EvalRecord


class RichProgress:
    """Done/total, failures, tokens spent so far and the ETA (`aevaluate(progress=RichProgress(console))`)."""

    def __init__(self, console: Console) -> None:
        self.failed = 0
        self.tokens = 0
        self.bar = Progress(
            TextColumn("Judging"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed · {task.fields[tokens]:,} tokens"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self.task = self.bar.add_task("judging", total=0, failed=0, tokens=0)

    def start(self, total: int, done: int) -> None:
        self.failed = self.tokens = 0
        self.bar.reset(self.task, total=total, completed=done, failed=0, tokens=0)
        self.bar.start()

    def advance(self, record: EvalRecord) -> None:
        self.failed += not record.ok
        if not record.cached:  # a cached verdict cost nothing this time
            self.tokens += record.feedback.metadata.input_tokens + record.feedback.metadata.output_tokens
        self.bar.update(self.task, advance=1, failed=self.failed, tokens=self.tokens)

    def stop(self) -> None:
        self.bar.stop()
