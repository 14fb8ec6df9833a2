"""Earned autonomy: a category auto-sends once operators' reviews show it is right often enough (docs/autonomy.md)."""
