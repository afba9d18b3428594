#!/bin/sh
# voting-offline: a container image has no init system; package scripts must not
# start or restart services while an image is being built (101 = action forbidden).
exit 101
