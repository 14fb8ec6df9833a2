"""Mailbox connectors: they produce raw messages and carry out replies, drafts and marks. No classification here."""
