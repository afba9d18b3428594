#!/bin/sh
# Entrypoint of the buildkitd container deploy/release/up.sh starts (baked into the stand-in
# image, bind-mounted over the upstream one).
#
# The engine mounts /sys/fs/cgroup read-only in every container that is not privileged, and on a
# cgroup v1 host each controller is its own read-only mount: runc, which BuildKit uses for every
# RUN step, then fails with "mkdir /sys/fs/cgroup/cpuset/buildkit: read-only file system". The
# container has CAP_SYS_ADMIN (up.sh adds every capability the host allows), so remount them
# read-write first: as bind mounts, which changes this mount's flag only (a plain remount would
# try to change the shared cgroup superblock and fails with "mount point is busy"). On a cgroup
# v2 host there is one mount and the same applies to it.
set -eu
for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
	mount -o remount,bind,rw "$m"
done
exec buildkitd "$@"
