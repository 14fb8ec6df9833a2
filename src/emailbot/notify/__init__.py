"""Notifiers tell people about escalations."""
