#!/usr/bin/env bash
# The baseline: the drain as a user would write it without memories-reaper, for a cron
# job: sqlite3 and curl, 100 ids a request, one request at a time, a pause of 0.2 s after
# each to stay within 5 requests a second. No retries, leases, isolation or records.
#   bench/baseline.sh DATABASE URL KEY
set -euo pipefail
db=$1 url=$2 key=$3
failures=0
while :; do
  ids=$(sqlite3 -cmd '.timeout 5000' "$db" \
    "SELECT video_no FROM deletion_queue WHERE status = 'pending' ORDER BY id LIMIT 100")
  [ -z "$ids" ] && break
  list=$(echo $ids | sed 's/ /","/g')
  answer=$(curl -sS -m 30 -X POST -H "Authorization: $key" -H 'Content-Type: application/json' \
    -d "[\"$list\"]" "$url") || answer=failed
  case "$answer" in
    *'"code":"0000"'*)
      sqlite3 -cmd '.timeout 5000' "$db" \
        "UPDATE deletion_queue SET status = 'deleted' WHERE video_no IN ('$(echo $ids | sed "s/ /','/g")')" ;;
    *) failures=$((failures + 1))
       # Left for the next cron run: a script this simple has no better plan.
       [ "$failures" -ge 10 ] && { echo "baseline: 10 failed requests, giving up" >&2; exit 1; }
       sleep 1 ;;
  esac
  sleep 0.2
done
