"""Who may call EmailBot: API keys with roles, dashboard sessions, rate limits and the audit log."""
