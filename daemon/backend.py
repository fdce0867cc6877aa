"""Where the daemon's jobs run. The socket loop talks to one backend through this small interface and never
knows which one it is:

* ``start()``; ``stop(timeout) -> bool``: stop takes the jobs off the devices without finishing them (they
  stay in the daemon's journal and run again at its next start); True when everything stopped in time.
* ``submit(job) -> position``: the daemon admitted the job (its queue bound is the daemon's business);
  ``waiting()``: how many jobs wait for a device; ``position(job)``: a waiting job's place, else None.
* ``cancel(job) -> bool``: True when the job had not started (it is dropped, the daemon finishes it as
  cancelled); else the running job is told to stop, which it does within one iteration, and the backend
  sends ``cancelled`` once it stopped.
* ``devices``: what the handshake shows.

A backend reports through the daemon's :class:`~.events.EventChannel`, one sender per thread:
``("running", job, {"device"})``, ``("progress", job, header, [preview])`` and the final event of
:func:`~.workers.execute`: ``done`` (header, [pixels]), ``failed`` ({"code", "message"}) or ``cancelled``
({"iteration"}).

``local`` (:class:`~.workers.LocalBackend`) computes in the daemon's own process, one thread per device;
``dask`` (:class:`~.cluster.DaskBackend`) sends each job to a Dask distributed cluster as a future.
"""
from __future__ import annotations

import logging

log = logging.getLogger("painterly.daemon")


def load_methods(allow_test_methods: bool = False, test_methods=()) -> dict:
    """The engine's methods by name (plus, when allowed, the ``echo`` test method and the methods declared at
    ``test_methods``' MODULE:ATTR specs); one that fails to import is left out with a warning rather than
    taking the daemon down."""
    from painterly import engine

    from .jobs import echo_method, import_method
    methods = {}
    for name in engine.method_names():
        try:
            methods[name] = engine.get_method(name)
        except Exception as exc:
            log.warning("method %s unavailable: %s", name, exc)
    if allow_test_methods:
        for method in [echo_method()] + [import_method(spec) for spec in test_methods]:
            methods[method.name] = method
    return methods


def resolve_devices(wanted) -> list[str]:
    """Device names for the local backend: ``auto`` is every GPU, else the CPU."""
    from painterly.engine.device import available_devices, select_device
    names = []
    for name in wanted:
        if name == "auto":
            gpus = [d for d in available_devices() if d != "cpu"]
            names += gpus or ["cpu"]
        else:
            names.append(str(select_device(name)))
    return list(dict.fromkeys(names))


def make_backend(config, methods: dict, events, name: str):
    """The backend for ``config``: ``dask`` when it names a cluster, else ``local`` on its devices.
    ``name`` is this daemon's lasting identity (a cluster shared by several daemons keeps them apart)."""
    if config.cluster:
        from .cluster import DaskBackend
        return DaskBackend(config.cluster, events, device=config.devices[0] if config.devices else "auto",
                           half=config.half, security=config.cluster_security(), name=name)
    from .workers import LocalBackend
    return LocalBackend(resolve_devices(config.devices), methods, events, half=config.half)
