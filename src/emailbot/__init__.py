"""EmailBot: triage for a team's shared mailbox."""

__version__ = "0.1.0"
