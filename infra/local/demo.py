"""`mast local --demo`: the seed partnership with demo users, feed users' SSH keys, and feeds.

Everything here is fixed and written in the README, so anyone can sign in: the demo users'
passwords, and their MFA secret. moto uses one TOTP secret for every user (``ASDFASDFASDF``);
``mast local totp`` prints the current code, and any authenticator app given that secret does too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mast.config import Partnership

#: moto's single TOTP secret (base32), as an authenticator app would take it.
DEMO_TOTP_SECRET = "ASDFASDFASDF"


@dataclass(frozen=True)
class DemoUser:
    email: str
    password: str
    name: str
    organisation: str
    groups: tuple[str, ...]


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("practitioner@walsall.example", "Demo-Practitioner-2026!", "Pat Practitioner", "walsall-council", ("practitioners",)),
    DemoUser("admin@walsall.example", "Demo-OrgAdmin-2026!", "Alex Administrator", "walsall-council", ("org-admins",)),
    DemoUser("auditor@mast.example", "Demo-Auditor-2026!", "Ira Auditor", "walsall-council", ("auditors",)),
    DemoUser("steward@mast.example", "Demo-Steward-2026!", "Sam Steward", "walsall-council", ("data-stewards",)),
    DemoUser("police.practitioner@wmp.example", "Demo-Police-2026!", "Jo Constable", "wm-police", ("practitioners",)),
    DemoUser("admin@wmp.example", "Demo-PoliceAdmin-2026!", "Kim Inspector", "wm-police", ("org-admins",)),
)


def totp_code(secret: str = DEMO_TOTP_SECRET, at: float | None = None) -> str:
    """The RFC 6238 code (SHA-1, 6 digits, 30 s) an authenticator app shows for ``secret``."""
    padded = secret.upper() + "=" * (-len(secret) % 8)
    key = base64.b32decode(padded, casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def ssh_key_parameter(feed_id: str) -> str:
    """The template parameter holding a feed user's public key: ``wm-police`` → ``WmPoliceSshKey``."""
    return "".join(part.capitalize() for part in feed_id.split("-")) + "SshKey"


def ensure_feed_keys(partnership: Partnership, keys_dir: Path) -> dict[str, str]:
    """An ed25519 key pair per feed user (made once, kept); returns the template parameters."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    parameters = {}
    for feed in partnership.feeds:
        private = keys_dir / feed.id
        if not private.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{feed.id}@mast-local", "-f", str(private)],
                check=True,
            )
        parameters[ssh_key_parameter(feed.id)] = (keys_dir / f"{feed.id}.pub").read_text().strip()
    return parameters


def seed_users(cognito: Any, pool_id: str, client_id: str, users: tuple[DemoUser, ...] = DEMO_USERS) -> None:
    """Create the demo users, confirmed, in their groups, with TOTP MFA set up and preferred."""
    for user in users:
        cognito.admin_create_user(
            UserPoolId=pool_id,
            Username=user.email,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "name", "Value": user.name},
                {"Name": "custom:organisation", "Value": user.organisation},
            ],
        )
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=user.email, Password=user.password, Permanent=True)
        for group in user.groups:
            cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=user.email, GroupName=group)
        signed_in = cognito.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.email, "PASSWORD": user.password},
        )
        access_token = signed_in["AuthenticationResult"]["AccessToken"]
        cognito.associate_software_token(AccessToken=access_token)
        cognito.verify_software_token(AccessToken=access_token, UserCode=totp_code(), FriendlyDeviceName="demo")
        cognito.set_user_mfa_preference(
            AccessToken=access_token, SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
        )


def seed_feed_states(dynamodb: Any, control_table: str, partnership: Partnership) -> None:
    """Each feed's state (sample or live) from the partnership, where coverage reads it."""
    for feed in partnership.feeds:
        dynamodb.put_item(
            TableName=control_table,
            Item={
                "pk": {"S": f"FEED#{feed.id}"},
                "sk": {"S": "STATE"},
                "partner": {"S": feed.partner},
                "name": {"S": feed.name},
                "state": {"S": feed.state},
            },
        )


#: The demo's synthetic partnership data: people, seed and days of extracts.
DEMO_PEOPLE = 1500
DEMO_SEED = 2026
DEMO_DAYS = 3


def seed_extracts(host: str, sftp_port: int, keys_dir: Path, out_dir: Path, *, people: int = DEMO_PEOPLE,
                  seed: int = DEMO_SEED, days: int = DEMO_DAYS, as_of: Any = None,
                  announce: Any = print) -> list[Any]:
    """Generate ``days`` of extracts (the last dated today) and send them through SFTP, day by day, as
    each feed's partner would; wait for every receipt. The files and their truth stay in ``out_dir``
    (``day-N/``) so a developer or a test can see what went in. Returns the receipts."""
    from mast.feeds.sftp_client import SftpAccount
    from tools.generate import generate_days

    generated = generate_days(people, seed, days, as_of=as_of)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "as_of.json").write_text(json.dumps({"as_of": generated[-1].date.isoformat(), "people": people,
                                                    "seed": seed, "days": days}))
    receipts = []
    for day in generated:
        folder = out_dir / f"day-{day.day}"
        day.write(folder)
        for feed, extract in sorted(day.files.items()):
            account = SftpAccount(host, sftp_port, feed, keys_dir / feed, check_host_key=False)
            started = time.time()
            name = account.put(folder / extract.file_name)
            receipts.append(account.receipt(name, after=started, timeout=300))
        announce(f"  day {day.day} ({day.date}): {len(day.files)} extracts sent over SFTP and ingested")
    return receipts
