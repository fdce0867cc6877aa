"""Painterly for Krita: Tools > Scripts > Harmonize Selection, and the Painterly docker, which offers every
method of the painterly daemon with widgets generated from its declarations."""
from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita

from .docker import DOCKER_ID, PainterlyDocker
from .extension import PainterlyExtension
from .qt_compat import enum

Krita.instance().addExtension(PainterlyExtension(Krita.instance()))
Krita.instance().addDockWidgetFactory(
    DockWidgetFactory(DOCKER_ID, enum(DockWidgetFactoryBase, "DockPosition", "DockRight"), PainterlyDocker))
