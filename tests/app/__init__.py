"""The running app: its API, MCP server, browser pages, start-up and safety."""
