"""judge_agent: an agent-as-a-judge that investigates OpenTelemetry traces through MCP tools."""
