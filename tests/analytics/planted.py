"""A generated mailbox with planted families of similar emails among varied real-looking mail."""

from __future__ import annotations

import json
import random
from pathlib import Path

from emailbot.classifiers import __file__ as classifiers_init
from tests.factories import rfc822

STARTER = Path(classifiers_init).with_name("starter") / "default.jsonl"
NAMES = ["Anna", "Ben", "Chloe", "Dev", "Emil", "Fatima", "Goran", "Hana", "Ivo", "Jana", "Kofi", "Lena", "Mo"]


def password_email(rng: random.Random) -> tuple[str, str, str]:
    user = f"{rng.choice(NAMES).lower()}{rng.randint(10, 99)}"
    subject = rng.choice(
        ["Password reset for account {u}", "Account {u} locked - password reset", "Re: reset password {u}"]
    )
    body = (
        f"Hi, I forgot my password and my account {user} is locked after too many login attempts. "
        f"Please reset the password so I can log in again. {rng.choice(['Thanks', 'Cheers', 'Regards'])}, "
        f"{rng.choice(NAMES)}"
    )
    return f"{rng.choice(NAMES)} <{user}@customer.example>", subject.format(u=user), body


def vpn_email(rng: random.Random) -> tuple[str, str, str]:
    minutes = rng.randint(2, 30)
    body = (
        f"Since this morning the VPN client disconnects every {minutes} minutes when I work from home. "
        "The VPN tunnel reconnects by itself but my session on the file server is lost each time. "
        f"Could someone look at the VPN gateway? {rng.choice(NAMES)}"
    )
    sender = f"{rng.choice(NAMES).lower()}.{rng.randint(1, 999)}@customer.example"
    return sender, f"VPN connection drops every {minutes} minutes", body


def invoice_email(rng: random.Random) -> tuple[str, str, str]:
    invoice, order = rng.randint(10000, 99999), rng.randint(4000000, 4999999)
    body = (
        f"Please find attached invoice {invoice} for purchase order {order}. Payment terms are 30 days net. "
        "Kindly confirm receipt of the invoice and forward it to accounts payable for payment."
    )
    return "Supplier Billing <billing@supplier.example>", f"Invoice {invoice} for order {order}", body


FAMILIES = {"password": password_email, "vpn": vpn_email, "invoice": invoice_email}


def write_mailbox(root: Path, *, per_family: int, noise: int, seed: int = 7) -> dict[str, str]:
    """Writes the emails into `root/new`; returns each email's subject mapped to its family ("noise" for others)."""
    rng = random.Random(seed)
    (root / "new").mkdir(parents=True, exist_ok=True)
    for name in ("tmp", "cur"):
        (root / name).mkdir(exist_ok=True)
    starter = [json.loads(line) for line in STARTER.read_text(encoding="utf-8").splitlines() if line.strip()]
    emails = [(family, *make(rng)) for family, make in FAMILIES.items() for _ in range(per_family)]
    emails += [
        ("noise", f"user{i}@elsewhere.example", s["subject"], s["body"])
        for i, s in enumerate(rng.sample(starter, noise))
    ]
    rng.shuffle(emails)
    families = {}
    for number, (family, sender, subject, body) in enumerate(emails):
        (root / "new" / f"{number:05d}.planted").write_bytes(rfc822(subject, body, sender=sender))
        families[subject] = family
    return families
