#!/bin/sh
# Runs INSIDE the apprig chroot under /apprig/bin/apprig-xvfb-run:  gimp_gui_check.sh DIR SHOT.png
# GIMP (GUI) runs gimp_gui_driver.py.  Once it has run the procedure, ONE Ctrl+Z is typed into the image
# window (the driver records what it undid); then the driver opens the procedure's dialog, which is
# screenshot.  Exit status: the screenshot's (the undo result is in the driver's result file).
# GDK_CORE_DEVICE_EVENTS=1 must be set: GTK ignores synthetic core key events while it uses XInput2.
HERE=$(dirname "$0")
DIR=$1; SHOT=$2
gimp-3.0 --no-splash --batch-interpreter python-fu-eval -b - < "$HERE/gimp_gui_driver.py" > "$DIR/gimp-gui.log" 2>&1 &
gimp_pid=$!
i=0
while [ ! -e "$DIR/ready-for-undo" ] && [ $i -lt 1200 ] && kill -0 "$gimp_pid" 2>/dev/null; do
    sleep 0.1; i=$((i + 1))
done
sleep 1
(cd "$HERE" && python3 x11_send_key.py " – GIMP" z ctrl)
touch "$DIR/undo-sent"
(cd "$HERE" && python3 x11_window_shot.py "Painterly" "$SHOT" 60 "${PAINTERLY_SHOT_SETTLE:-12}")   # the preview's job
rc=$?
kill "$gimp_pid" 2>/dev/null
wait "$gimp_pid" 2>/dev/null
exit $rc
