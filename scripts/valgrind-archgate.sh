#!/bin/sh
# valgrind-archgate.sh - run build/archgate under valgrind memcheck, for ARCHGATE_BIN in the
# integration tests (make valgrind). One log per process in $VG_LOG_DIR (default build/valgrind):
# vg-<pid>.log, empty when memcheck found nothing. Exit status 99 on a memcheck error.
dir=${VG_LOG_DIR:-build/valgrind}
bin=${VG_ARCHGATE:-build/archgate}
mkdir -p "$dir"
exec valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --track-fds=no --quiet --log-file="$dir/vg-%p.log" "$bin" "$@"
