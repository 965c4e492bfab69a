"""The `trace-tools` command: serve traces over MCP, or run the investigation tools from a shell.

Exit codes: 0 success; 1 a trace could not be loaded or a lookup failed; 2 a usage error.
Trace text is hostile: it is printed with rich markup off and control characters escaped.
One module per group of commands: `serve`, `investigate` (the tools from a shell), and
`trace_tools.collect` (the OTLP receiver); `options` holds what they share.
"""

from __future__ import annotations

import click

from trace_tools.cli.investigate import info, search_command, span, spans, timing, traces
from trace_tools.cli.serve import serve
from trace_tools.collect import collect
from trace_tools.terminal import ErrorGroup, fit_stdout

__all__ = ["main"]


@click.group(cls=ErrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="judge-agent", prog_name="trace-tools")
def main() -> None:
    """Load OpenTelemetry traces (OTLP JSON / JSON Lines / protobuf with their logs, Zipkin, Jaeger,
    ConsoleSpanExporter or MLflow JSON; gzip or zstd; files, directories, or `-` for stdin) and
    investigate them with the tools a judge agent uses.

    \b
    Serve them to an MCP host:      trace-tools serve traces.jsonl
    Receive them over OTLP/HTTP:    trace-tools collect   (into the trace store)
    Look at them from the shell:    trace-tools info traces.jsonl
                                    trace-tools spans traces.jsonl --type LLM
                                    trace-tools span traces.jsonl 1a2b3c4d5e6f7a8b
                                    trace-tools search traces.jsonl 'refund|30 days'
                                    trace-tools timing traces.jsonl
                                    trace-tools traces runs/ --exclude 'results*'
                                    cat trace.json | trace-tools info -
    The same over the trace store:  trace-tools serve --store
                                    trace-tools traces --store --since 1h --errors
                                    trace-tools info --last --store

    Secret-looking values are shown as [REDACTED] unless --no-redact is given.
    """
    fit_stdout()


for command in (serve, collect, traces, info, spans, span, search_command, timing):
    main.add_command(command)
