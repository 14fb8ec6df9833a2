"""Classification and reply drafting through any OpenAI-compatible chat-completions API.

The local model stays the safety net: whatever goes wrong here (outage, budget, invalid answer), an email is
classified by the local model in the same processing step.
"""
