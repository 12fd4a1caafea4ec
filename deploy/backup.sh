#!/usr/bin/env bash
# A consistent copy of a running Doorstep server's database, safe while it serves.
#
#   deploy/backup.sh /var/lib/doorstep /var/backups/doorstep
#
# `VACUUM INTO` reads the database in one read transaction (the server keeps writing; the
# copy is the database as of one moment, every committed sync in it or not) and writes a
# compact, self-contained file (no -wal beside it). The copy is checked with
# `PRAGMA integrity_check` before it replaces the previous one. Desks (DIR/desks/*.db) are the
# managers' dashboard homes: copied the same way. Needs the sqlite3 command (Debian: sqlite3).
set -euo pipefail
data=${1:?usage: backup.sh DATA_DIR BACKUP_DIR}
out=${2:?usage: backup.sh DATA_DIR BACKUP_DIR}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="$out/$stamp"
mkdir -p "$dest/desks"
copy() {
    local from=$1 to=$2
    sqlite3 "$from" ".timeout 10000" "VACUUM INTO '$to.partial'"
    [ "$(sqlite3 "$to.partial" 'PRAGMA integrity_check')" = ok ] || {
        echo "integrity check failed: $to.partial" >&2
        exit 1
    }
    mv "$to.partial" "$to"
}
copy "$data/server.db" "$dest/server.db"
for desk in "$data"/desks/*.db; do
    [ -e "$desk" ] || continue
    copy "$desk" "$dest/desks/$(basename "$desk")"
done
echo "$dest"
