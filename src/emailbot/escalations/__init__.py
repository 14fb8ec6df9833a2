"""Escalations after they are opened: threads that join them, SLA tracking, resolution."""
