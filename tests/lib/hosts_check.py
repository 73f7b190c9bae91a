"""The checks of tests/hosts-fail.sh, against the stand-in's request log.

Usage: python3 hosts_check.py REQUESTS.jsonl EVENTS IDS_FILE DELETED_FILE
- REQUESTS.jsonl: the stand-in's log, one JSON line a request (support/standin.rs LogLine);
- EVENTS: lines "NAME EPOCH_MS" (kill, cut, restart, ...);
- IDS_FILE: every id the producers inserted, one a line;
- DELETED_FILE: the ids the queue holds as deleted, one a line.
Prints the figures, one a line, then "hosts-fail checks: N passed, M failed"; exit 1 on a
failure.
"""

import json
import sys
from collections import Counter, defaultdict

requests_path, events_path, ids_path, deleted_path = sys.argv[1:5]
requests = [json.loads(line) for line in open(requests_path) if line.strip()]
events = {}
for line in open(events_path):
    name, at = line.split()
    events[name] = int(at)
inserted = set(open(ids_path).read().split())
deleted_rows = set(open(deleted_path).read().split())

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok: {what}")
    else:
        failed += 1
        print(f"FAILED: {what}")


deletes = [r for r in requests if r["path"].endswith("/delete_videos")]
lookups = [r for r in requests if not r["path"].endswith("/delete_videos")]


def busiest(rs, window_ms=1000):
    """The most requests in any window, and the busiest window's requests."""
    rs = sorted(rs, key=lambda r: r["at_ms"])
    most, start, where = 0, 0, []
    for end in range(len(rs)):
        while rs[end]["at_ms"] - rs[start]["at_ms"] >= window_ms:
            start += 1
        if end - start + 1 > most:
            most, where = end - start + 1, rs[start:end + 1]
    return most, where


def shown(window):
    """A window's requests, as times since the first event, for a failure's message."""
    first = min(events.values()) if events else 0
    return ", ".join(f'{(r["at_ms"] - first) / 1000:.3f}s {r["path"].rsplit("/", 1)[-1]} '
                     f'{r["answered"]}' for r in window)


# No id lost: every id inserted is deleted in the queue, and the API deleted it.
applied = defaultdict(list)
for r in deletes:
    if r["applied"]:
        for i in r["ids"]:
            applied[i].append(r)
check(inserted <= deleted_rows, f"every inserted id is deleted in the queue "
      f"({len(inserted & deleted_rows)} of {len(inserted)})")
check(inserted <= set(applied), f"the API deleted every inserted id "
      f"({len(inserted & set(applied))} of {len(inserted)})")
# None deleted twice, but for those whose answer was cut: every deletion but the last of
# an id must have gone undelivered.
twice = [i for i, rs in applied.items()
         if len(rs) > 1 and any(r["delivered"] for r in rs[:-1])]
cut = sum(1 for rs in applied.values() if len(rs) > 1)
check(not twice, f"no id deleted twice but after a cut answer ({cut} resent after a cut; "
      f"{len(twice)} otherwise: {twice[:5]})")
# One account rate: the stand-in's own limit never hit, never over 5 in a rolling second.
over = sum(1 for r in deletes if r["over_limit"] or r["answered"] == "0429")
check(over == 0, f"no deletion answered 0429 ({over})")
for name, rs in (("deletions", deletes), ("lookups", lookups)):
    most, window = busiest(rs)
    check(most <= 5, f"at most 5 {name} in any rolling second (busiest {most}"
          + (f": {shown(window)})" if most > 5 else ")"))


# Takeover: the first request after each event that stops the sender.
def first_after(at):
    later = [r["at_ms"] for r in deletes if r["at_ms"] > at + 100]
    return (min(later) - at) / 1000 if later else None


for name in ("kill", "cut"):
    if name in events:
        print(f"figure: {name} at {(events[name] - min(events.values())) / 1000:.3f}s")
        gap = first_after(events[name])
        print(f"figure: requests resumed {gap} s after the sender's {name}")
        check(gap is not None and gap < 60, f"a standby took over after the {name}")
if "restart" in events:
    gap = first_after(events["restart"])
    print(f"figure: requests resumed {gap} s after the database's restart")
print(f"figure: {len(deletes)} deletion requests, {len(lookups)} lookups, "
      f"{len(inserted)} ids")
print(f"hosts-fail checks: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
