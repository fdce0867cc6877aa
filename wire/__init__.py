"""The wire between the apps and the daemon: protocol, request validation, endpoints and the client.

Pure Python 3.8+ (stdlib + pyzmq + msgpack): the installer copies this package into the Krita and GIMP
plugins, whose Python has no numpy or torch."""
