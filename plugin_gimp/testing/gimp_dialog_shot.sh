#!/bin/sh
# Runs INSIDE the apprig chroot under /apprig/bin/apprig-xvfb-run:
#   gimp_dialog_shot.sh DIR OUT.png
# Starts GIMP (GUI) with gimp_dialog_driver.py as a batch script (it opens the procedure's dialog),
# screenshots the dialog with x11_window_shot.py, then ends GIMP.  Exit status: the screenshot's.
HERE=$(dirname "$0")
DIR=$1; OUT=$2
gimp-3.0 --no-splash --batch-interpreter python-fu-eval -b - < "$HERE/gimp_dialog_driver.py" > "$DIR/gimp-gui.log" 2>&1 &
gimp_pid=$!
python3 "$HERE/x11_window_shot.py" "Painterly" "$OUT" 120
rc=$?
kill "$gimp_pid" 2>/dev/null
wait "$gimp_pid" 2>/dev/null
exit $rc
