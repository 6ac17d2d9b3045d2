"""`mast ingest FILE --feed FEED`: send an extract through SFTP as the feed's partner would, and
print its receipt.

It goes through the front door (SFTP → upload completed → ingest → receipt in ``reports/``), never
around it: against the local stack by default (the feed's key in ``.local-stack/keys/<feed>``),
or against any SFTP endpoint with ``--host``/``--sftp-port``/``--key``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("ingest", help="upload an extract over SFTP as a feed's partner, print the receipt")
    parser.add_argument("file", type=Path, help="the extract (CSV)")
    parser.add_argument("--feed", required=True, help="feed id, e.g. wm-police (also the SFTP user name)")
    parser.add_argument("--as", dest="remote_name", default=None, help="file name on the server (default: the file's)")
    parser.add_argument("--host", default="127.0.0.1", help="SFTP host (default 127.0.0.1, the local stack)")
    parser.add_argument("--sftp-port", type=int, default=2222, help="SFTP port (default 2222)")
    parser.add_argument("--key", type=Path, default=None, help="private key (default .local-stack/keys/<feed>)")
    parser.add_argument("--state-dir", type=Path, default=Path(".local-stack"), help="the local stack's state folder")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the receipt (default 300)")
    parser.add_argument("--no-wait", action="store_true", help="upload only; do not wait for the receipt")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mast.feeds.sftp_client import SftpAccount, SftpFailed, summary

    if not args.file.is_file():
        print(f"mast ingest: no such file: {args.file}", file=sys.stderr)
        return 2
    key = args.key or args.state_dir / "keys" / args.feed
    if not key.is_file():
        print(f"mast ingest: no SSH key for feed {args.feed!r} at {key} (start `mast local --demo`, or pass --key)",
              file=sys.stderr)
        return 2
    local = args.host in ("127.0.0.1", "localhost", "::1")
    account = SftpAccount(args.host, args.sftp_port, args.feed, key, check_host_key=not local)
    started = time.time()
    try:
        name = account.put(args.file, args.remote_name)
        print(f"uploaded {args.file} as {args.feed}/{name}", flush=True)
        if args.no_wait:
            return 0
        receipt = account.receipt(name, after=started, timeout=args.timeout)
    except SftpFailed as error:
        print(f"mast ingest: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary(receipt), indent=2, default=str))
    return 0 if receipt.status != "quarantined" else 1
