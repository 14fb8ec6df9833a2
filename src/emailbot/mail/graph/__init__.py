"""The Microsoft 365 connector (EMAILBOT_MAILBOX=graph): MSAL tokens, an httpx Graph client, delta sync, actions
through `$batch`, change notifications. See docs/m365-setup.md."""
