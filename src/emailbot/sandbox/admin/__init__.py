"""The sandbox's own admin API under `/_sandbox/`: inspect state, deliver mail, inject faults, approve sign-ins.

It needs no token (the sandbox listens on loopback only) and answers JSON; errors are `{"error": "..."}` with 4xx.
`routes` is the table; the handlers are grouped by what they touch: `mail`, `tenant`, `traffic` (faults and the
request log), `teams` (chats and subscriptions) and `signin`.
"""
