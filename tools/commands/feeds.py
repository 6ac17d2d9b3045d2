"""`mast feeds …`: the partner feeds as configured.

- ``list``: every feed in the partnership with its definition's mode and partner, and any
  definition that does not load (named with the file and field at fault);
- ``spec FEED``: the data schema the partner's data lead builds the extract to
  (``--template`` for a CSV header and example row instead);
- ``check FILE --feed FEED``: parse a file as ingest would, print its receipt, optionally write
  the rejected rows; nothing is stored. For a data lead's dry run, or an operator's diagnosis;
- ``erase FEED --reason TEXT --yes``: a partner leaving: every version of the feed's curated data
  and of its raw uploads deleted (its receipts kept), the erasure audited, and a rebuild queued so
  its records leave the index (:mod:`mast.feeds.erasure`); against AWS (``--environment``) or the local stack (``--local``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.commands._target import Stack, add_stack_target


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("feeds", help="partner feeds: list, spec, check a file")
    sub = parser.add_subparsers(dest="feeds_command", metavar="ACTION", required=True)

    p_list = sub.add_parser("list", help="list the configured feeds")
    p_list.set_defaults(func=_list)

    p_spec = sub.add_parser("spec", help="print the data schema a partner builds the extract to")
    p_spec.add_argument("feed", help="feed id, e.g. wm-police")
    p_spec.add_argument("--template", action="store_true", help="print a CSV header and example row")
    p_spec.set_defaults(func=_spec)

    p_check = sub.add_parser("check", help="parse a file as ingest would and print its receipt")
    p_check.add_argument("file", type=Path)
    p_check.add_argument("--feed", required=True, help="feed id")
    p_check.add_argument("--rejected", type=Path, help="also write the rejected rows CSV here")
    p_check.set_defaults(func=_check)

    p_erase = sub.add_parser("erase", help="a partner leaving: erase a feed from the curated data and the index")
    p_erase.add_argument("feed", help="feed id, e.g. wm-fire")
    p_erase.add_argument("--reason", required=True, help="why (kept in the audit)")
    p_erase.add_argument("--operator", default=None, help="who runs it (default: the AWS identity)")
    p_erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    add_stack_target(p_erase)
    p_erase.set_defaults(func=_erase)


def _erase(args: argparse.Namespace) -> int:
    from mast.config import load_partnership
    from mast.feeds.erasure import erase_feed

    ref = load_partnership().feed(args.feed)
    if ref is None:
        print(f"no feed called {args.feed!r} (see `mast feeds list`)", file=sys.stderr)
        return 2
    if not args.yes:
        print(f"erasing {args.feed} deletes every version of its curated data and cannot be undone: add --yes",
              file=sys.stderr)
        return 2
    stack = Stack.of(args)
    operator = args.operator or stack.session.client("sts").get_caller_identity()["Arn"]
    erased = erase_feed(stack.session, curated_bucket=stack.name(f"curated-{stack.account}"),
                        control_table=stack.control_table, audit_table=stack.name("audit"),
                        match_queue_url=stack.url(stack.name("match.fifo")), partner=ref.partner, feed=args.feed,
                        operator=operator, reason=args.reason, raw_bucket=stack.raw_bucket,
                        landing_bucket=stack.landing_bucket)
    print(f"erased {erased.feed}: {erased.object_versions_deleted} object versions deleted from the curated data, "
          f"{erased.raw_versions_deleted} of its raw uploads and rejected rows ({erased.receipts_kept} receipts kept); "
          f"{'a rebuild is queued: its records leave the index when it switches' if erased.rebuild_queued else ''}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from mast.config import load_partnership
    from mast.feeds.definition import FeedDefinitionError, load_feed_definition

    status = 0
    rows = [("feed", "partner", "mode", "state", "name")]
    for ref in load_partnership().feeds:
        try:
            d = load_feed_definition(ref.id)
            rows.append((ref.id, ref.partner, d.mode, ref.state, ref.name))
        except KeyError:
            rows.append((ref.id, ref.partner, "-", ref.state, f"{ref.name}  [no definition file]"))
            status = 1
        except FeedDefinitionError as exc:
            rows.append((ref.id, ref.partner, "-", ref.state, f"{ref.name}  [invalid]"))
            print(exc, file=sys.stderr)
            status = 1
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
    return status


def _spec(args: argparse.Namespace) -> int:
    from mast.feeds.definition import FeedDefinitionError, load_feed_definition
    from mast.feeds.spec import render_spec, template_csv

    try:
        definition = load_feed_definition(args.feed)
    except KeyError:
        print(f"unknown feed {args.feed!r}: see `mast feeds list`", file=sys.stderr)
        return 2
    except FeedDefinitionError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(template_csv(definition) if args.template else render_spec(definition))
    return 0


def _check(args: argparse.Namespace) -> int:
    import datetime as dt

    from mast.feeds.parse import parse_upload

    data = args.file.read_bytes()
    parsed = parse_upload(data, args.feed, ingest_id=f"check-{dt.date.today().isoformat()}",
                          file_name=args.file.name)  # fmt: skip
    sys.stdout.write(parsed.receipt_json().decode("utf-8"))
    if args.rejected:
        args.rejected.write_bytes(parsed.rejected_csv())
    return 1 if parsed.quarantined else 0
