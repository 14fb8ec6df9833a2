"""Graph's route table in the sandbox: every path it answers, its handler and the permissions of which a caller
needs any one (application roles for app tokens, scopes for delegated ones)."""

from __future__ import annotations

from emailbot.sandbox.graph import batch, chats, subscriptions
from emailbot.sandbox.graph.delta import delta
from emailbot.sandbox.graph.folders import create_folder, get_folder, list_folders
from emailbot.sandbox.graph.messages import (
    delete_message,
    get_message,
    list_messages,
    move_message,
    patch_message,
    raw_message,
)
from emailbot.sandbox.graph.pipeline import GraphService, Router
from emailbot.sandbox.graph.sending import (
    create_draft,
    create_reply,
    create_reply_all,
    reply,
    reply_all,
    send_draft,
    send_mail,
)
from emailbot.sandbox.graph.users import get_user, list_users

MAIL_READ = ("Mail.Read", "Mail.ReadWrite", "Mail.ReadBasic", "Mail.ReadBasic.All")
MAIL_WRITE = ("Mail.ReadWrite",)
MAIL_SEND = ("Mail.Send",)
USER_READ = ("User.Read.All", "User.ReadBasic.All", "Directory.Read.All", "User.Read")


def build_router(service: GraphService) -> Router:
    router = service.router
    router.add("POST", "/$batch", batch.batch_handler(service), ())
    _register_mail(router)
    subscriptions.register(router)
    chats.register(router)
    return router


def _register_mail(router: Router) -> None:
    router.add("GET", "/users", list_users, USER_READ, denied_code="Authorization_RequestDenied")
    router.add("GET", "/users/{user}", get_user, USER_READ, denied_code="Authorization_RequestDenied", directory=True)
    router.add("GET", "/users/{user}/mailFolders", list_folders, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/mailFolders", create_folder, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}", get_folder, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages/delta", delta, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages", list_messages, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/mailFolders/{folder}/messages/{message}", get_message, MAIL_READ, mailbox=True)
    router.add("GET", "/users/{user}/messages", list_messages, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/messages", create_draft, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/messages/{message}", get_message, MAIL_READ, mailbox=True)
    router.add("PATCH", "/users/{user}/messages/{message}", patch_message, MAIL_WRITE, mailbox=True)
    router.add("DELETE", "/users/{user}/messages/{message}", delete_message, MAIL_WRITE, mailbox=True)
    router.add("GET", "/users/{user}/messages/{message}/$value", raw_message, MAIL_READ, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/createReply", create_reply, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/createReplyAll", create_reply_all, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/reply", reply, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/replyAll", reply_all, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/send", send_draft, MAIL_SEND, mailbox=True)
    router.add("POST", "/users/{user}/messages/{message}/move", move_message, MAIL_WRITE, mailbox=True)
    router.add("POST", "/users/{user}/sendMail", send_mail, MAIL_SEND, mailbox=True)
