"""The sandbox's Graph v1.0 subset: `pipeline` (token, routing, permissions, mailbox checks, faults, throttling, the
request log) runs every call, single or a `$batch` item (`batch`); `routes` is the route table; each resource has
its module: `users`, `folders`, `messages`, `sending`, `delta`, `chats`, `subscriptions` (and `notifier`, which posts
change notifications); `query`, `render` and `compose` read requests, write Graph's JSON and build mail."""
