"""A local fake Microsoft 365 tenant (Entra ID token endpoint + a Graph v1.0 subset) on loopback HTTPS.

The real MSAL and httpx talk to it, so the Graph connector can be tested and demonstrated with no tenant.
`emailbot sandbox` starts it and prints the settings block below; `tests/fakes/m365.py` starts it in a thread.

Settings the sandbox prints (the Graph connector reads exactly these names)::

    EMAILBOT_MAILBOX=graph
    EMAILBOT_GRAPH_TENANT_ID=<tenant GUID>
    EMAILBOT_GRAPH_CLIENT_ID=<application (client) GUID>
    EMAILBOT_GRAPH_CLIENT_SECRET=<client secret>            # or the two certificate settings below
    EMAILBOT_GRAPH_CLIENT_CERTIFICATE=<PEM file: private key + certificate>
    EMAILBOT_GRAPH_CLIENT_CERTIFICATE_THUMBPRINT=<SHA-1 hex, optional: computed from the certificate when empty>
    EMAILBOT_GRAPH_AUTHORITY_URL=https://127.0.0.1:<port>   # like https://login.microsoftonline.com: no tenant
    EMAILBOT_GRAPH_BASE_URL=https://127.0.0.1:<port>/v1.0   # like https://graph.microsoft.com/v1.0
    EMAILBOT_GRAPH_CA_BUNDLE=<the sandbox's CA certificate, PEM>  # empty in production: the system's CAs
    EMAILBOT_GRAPH_MAILBOX=<the shared mailbox address>

How a client talks to it (exactly as to the real services):

- MSAL: ``ConfidentialClientApplication(client_id, client_credential=secret or {"private_key", "thumbprint"},
  authority=f"{AUTHORITY_URL}/{TENANT_ID}", instance_discovery=False, verify=CA_BUNDLE)``; scope
  ``["https://graph.microsoft.com/.default"]`` (any ``<resource>/.default`` is accepted). MSAL fetches
  ``{authority}/v2.0/.well-known/openid-configuration`` then posts to ``{authority}/oauth2/v2.0/token``.
- httpx: ``httpx.AsyncClient(base_url=BASE_URL, verify=ssl context from CA_BUNDLE)`` with
  ``Authorization: Bearer <token>``. Paths are Graph's: ``/users/{id|upn}/mailFolders/inbox/messages/delta``,
  ``/users/{id}/messages/{id}``, ``.../$value``, ``.../createReply``, ``.../reply``, ``.../send``, ``.../move``,
  ``/users/{id}/sendMail``, ``/$batch``, ``/subscriptions``, ``/chats``, ``/chats/{id}/members``,
  ``/chats/{id}/messages``.
- Delegated (device code) tokens for a service-account user: PublicClientApplication with the same authority;
  a test approves the pending code through ``SandboxState.approve_device_code`` or ``POST /_sandbox/device/approve``.

Admin API (no auth, loopback only) under ``/_sandbox/``: state inspection, seeding, ``deliver``, faults.

What it is made of: ``state/`` (the tenant's data, one module per resource kind, one lock), ``entra/`` (the token
service MSAL talks to), ``graph/`` (the Graph v1.0 subset: request pipeline, route table, one module per
resource), ``admin/`` (the ``/_sandbox/`` API), ``tokens.py`` and ``pki.py`` (JWTs, the CA and certificates),
``mime.py`` (parsing and building mail), ``server.py`` (assembles and serves it), ``cli.py`` (``emailbot sandbox``).
"""
