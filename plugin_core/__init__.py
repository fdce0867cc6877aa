"""The host-independent part of the Krita and GIMP plugins (pure Python 3.8+, stdlib and the wire).

From the daemon's handshake it knows which methods exist, their inputs and parameters and the widget
each parameter gets (:mod:`.declarations`, :mod:`.catalog`); it chooses the mask and the region to send
(:mod:`.region`, :mod:`.geometry`), converts byte layouts (:mod:`.pixels`), keeps a user's choices per
method (:mod:`.settings`), checks a job before it is sent (:mod:`.request`), loads the client with the
app's or the bundled pyzmq (:mod:`.messaging`), starts a local daemon (:mod:`.launcher`) and words the
errors (:mod:`.errors`). The installer copies it next to the wire into each plugin, as
``painterly_client/plugin_core``; nothing here imports Qt, GIMP, numpy or pyzmq at import time.
"""
