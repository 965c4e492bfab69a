"""`python -m trace_tools.cli`, as the tests and MCP hosts without the console script run it."""

from trace_tools.cli import main

main(prog_name="trace-tools")
