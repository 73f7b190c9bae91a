#!/usr/bin/env python3
"""A producer in Python: queue video numbers for deletion with the standard library only.

    python3 examples/producer.py QUEUE_DB VIDEO_NO... [--namespace NS] [--in-days N]

The database must exist (start the daemon or run `memories-reaper migrate` first). The
busy timeout lets the insert wait its turn while the daemon writes; one short transaction
holds every row, so either all are queued or none.
"""
import argparse
import os
import sqlite3
import sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("database")
    parser.add_argument("video_no", nargs="+")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--in-days", type=int, default=0, help="due this many days from now")
    args = parser.parse_args()
    if args.in_days < 0:
        parser.error("--in-days must be 0 or more: a video is never due before it is queued")

    # mode=rw: never create a second, empty queue by mistake. SQLite's own word for a file
    # that is not there is "unable to open database file": say what to do instead.
    if not os.path.isfile(args.database):
        print(
            f"producer: {args.database}: no such queue file; give the path of the daemon's "
            "queue (its config's database.path), or run `memories-reaper migrate` to create it",
            file=sys.stderr,
        )
        return 1
    uri = "file:" + args.database + "?mode=rw"
    try:
        # timeout: the busy timeout, in seconds (5 s, as the README asks).
        db = sqlite3.connect(uri, uri=True, timeout=5.0)
        with db:  # one transaction: committed on success, rolled back on error
            db.executemany(
                "INSERT INTO deletion_queue (video_no, unique_id, due_at)"
                " VALUES (?, ?, datetime('now', ?))",
                [(v, args.namespace, f"+{args.in_days} days") for v in args.video_no],
            )
        db.close()
    except sqlite3.Error as e:
        print(f"producer: {args.database}: {e}", file=sys.stderr)
        return 1
    print(f"queued {len(args.video_no)} in namespace {args.namespace}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
