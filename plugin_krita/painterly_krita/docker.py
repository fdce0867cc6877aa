"""The Painterly docker: every method the daemon offers, each with widgets generated from its declaration
(method_panel), the plugin's own settings (context margin, the result mask's edge, daemon endpoint and
device), progress with a live preview, Cancel, Live mode with Apply (live.py), and the daemon's state. Settings persist in kritarc's
[painterly] section, per method for the method's own."""
from krita import DockWidget, Krita

from . import document, settings
from .job import controller
from .live import LiveSession
from .method_panel import MethodPanel
from .painterly_client.plugin_core import geometry, messaging
from .qt_compat import KEEP_ASPECT, SMOOTH, QtCore, QtGui, QtWidgets, enum

DOCKER_ID = "painterly_docker"
DOCKER_TITLE = "Painterly"


def spin(low, high, suffix, tip, special=None):
    box = QtWidgets.QSpinBox()
    box.setRange(low, high)
    box.setSuffix(suffix)
    box.setToolTip(tip)
    if special:
        box.setSpecialValueText(special)
    return box


class PainterlyDocker(DockWidget):
    def __init__(self):
        DockWidget.__init__(self)
        self.setWindowTitle(DOCKER_TITLE)
        self.setObjectName(DOCKER_ID)
        self.ctl = controller()
        self.live = LiveSession(self.ctl)
        self._loading = True
        root = QtWidgets.QWidget(self)
        self.setWidget(root)
        outer = QtWidgets.QVBoxLayout(root)
        form = QtWidgets.QFormLayout()
        outer.addLayout(form)
        self.method = QtWidgets.QComboBox()
        form.addRow("Method", self.method)
        self.panels = QtWidgets.QStackedWidget()
        outer.addWidget(self.panels)

        edge = QtWidgets.QFormLayout()
        outer.addLayout(edge)
        self.context = spin(geometry.AUTO_MARGIN, 4096, " px", "Pixels of surroundings sent around the selection "
                            "(auto: half the object's size plus %d px)" % geometry.AUTO_MARGIN_EXTRA, "auto")
        self.grow = spin(0, 256, " px", "Grow the new layer's mask beyond the selection")
        self.feather = spin(0, 256, " px", "Feather the new layer's mask")
        edge_row = QtWidgets.QHBoxLayout()
        for label, widget in (("grow", self.grow), ("feather", self.feather)):
            edge_row.addWidget(QtWidgets.QLabel(label))
            edge_row.addWidget(widget)
        edge.addRow("Context margin", self.context)
        edge.addRow("Layer mask", edge_row)
        self.endpoint = QtWidgets.QLineEdit()
        self.endpoint.setPlaceholderText("your own daemon (default)")
        self.endpoint.setToolTip("The daemon's address; empty: $PAINTERLY_ENDPOINT, else your own daemon's socket "
                                 "(%s)" % messaging.default_endpoint())
        edge.addRow("Daemon", self.endpoint)
        self.device = QtWidgets.QComboBox()
        for name in settings.DEVICES:
            self.device.addItem(name, name)
        device_row = QtWidgets.QHBoxLayout()
        device_row.addWidget(self.device)
        self.start_button = QtWidgets.QPushButton("Start daemon")
        self.start_button.clicked.connect(self.ctl.start_daemon)
        self.check_button = QtWidgets.QPushButton("Check")
        self.check_button.clicked.connect(self.ctl.check_daemon)
        device_row.addWidget(self.start_button)
        device_row.addWidget(self.check_button)
        edge.addRow("Device", device_row)
        self.daemon_label = QtWidgets.QLabel("Daemon: not checked yet")
        self.daemon_label.setWordWrap(True)
        outer.addWidget(self.daemon_label)

        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Run")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.ctl.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        live_row = QtWidgets.QHBoxLayout()
        self.live_toggle = QtWidgets.QCheckBox("Live")
        self.live_toggle.setObjectName("painterly_live")
        self.live_toggle.setToolTip("Follow the selection, the layer and the parameters: each change shows the "
                                    "method's instant result in one preview layer (no undo steps)")
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Make the result layer at the chosen quality (one undo step) and leave Live")
        self.apply_button.setEnabled(False)
        live_row.addWidget(self.live_toggle)
        live_row.addWidget(self.apply_button, 1)
        outer.addLayout(live_row)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        outer.addWidget(self.progress)
        self.preview = QtWidgets.QLabel()
        self.preview.setMinimumHeight(96)
        self.preview.setAlignment(enum(QtCore.Qt, "AlignmentFlag", "AlignCenter"))
        self.preview.setFrameShape(enum(QtWidgets.QFrame, "Shape", "StyledPanel"))
        outer.addWidget(self.preview)
        self.status = QtWidgets.QLabel("Select the pasted object, then run.")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        outer.addStretch(1)

        self.build_methods()
        self.method.currentIndexChanged.connect(self.method_chosen)
        for box in (self.context, self.grow, self.feather):
            box.valueChanged.connect(self.save)
            box.valueChanged.connect(self.live.changed)
        self.live_toggle.toggled.connect(self.live.set_enabled)
        self.apply_button.clicked.connect(self.apply)
        self.live.active.connect(self.on_live)
        self.live.status.connect(self.status.setText)
        self.device.currentIndexChanged.connect(self.save)
        self.endpoint.editingFinished.connect(self.save)
        self.ctl.status.connect(self.status.setText)
        self.ctl.progress.connect(self.on_progress)
        self.ctl.preview.connect(self.on_preview)
        self.ctl.running.connect(self.on_running)
        self.ctl.daemon_status.connect(self.on_daemon_status)
        self.ctl.catalog_changed.connect(self.build_methods)
        QtCore.QTimer.singleShot(500, self.ctl.check_daemon)
        Krita.instance().notifier().viewCreated.connect(self.refresh_layers)

    # -- methods and their panels
    def build_methods(self):
        """The method list and one panel per method, from the controller's catalog."""
        self._loading = True
        self.method.blockSignals(True)
        self.method.clear()
        while self.panels.count():
            panel = self.panels.widget(0)
            self.panels.removeWidget(panel)
            panel.deleteLater()
        for method in self.ctl.catalog.methods:
            self.method.addItem(method.label, method.name)
            self.method.setItemData(self.method.count() - 1, method.summary, enum(QtCore.Qt, "ItemDataRole",
                                                                              "ToolTipRole"))
            panel = MethodPanel(method)
            panel.set_settings(settings.load_method(method))
            panel.changed.connect(self.save)
            panel.changed.connect(self.live.changed)
            self.panels.addWidget(panel)
        self.method.blockSignals(False)
        self.load()
        self.refresh_layers()

    def panel(self, name=None):
        """The panel of method ``name`` (default: the one shown), or None."""
        index = self.method.findData(name) if name else self.method.currentIndex()
        return self.panels.widget(index) if index >= 0 else None

    def show_panel(self, index):
        """Show one method's panel; the others take no room (a stack is as tall as its tallest page)."""
        self.panels.setCurrentIndex(index)
        ignored = enum(QtWidgets.QSizePolicy, "Policy", "Ignored")
        preferred = enum(QtWidgets.QSizePolicy, "Policy", "Preferred")
        for i in range(self.panels.count()):
            policy = preferred if i == index else ignored
            self.panels.widget(i).setSizePolicy(policy, policy)
        self.panels.adjustSize()

    def method_chosen(self, index):
        self.show_panel(index)
        panel = self.panel()
        self.run_button.setText(panel.method.label if panel else "Run")
        self.save()
        self.live.changed()

    # -- settings
    def load(self):
        self._loading = True
        s = settings.load()
        current = self.ctl.catalog.default(s["method"])
        self.method.setCurrentIndex(max(0, self.method.findData(current.name if current else "")))
        self.show_panel(self.method.currentIndex())
        self.run_button.setText(current.label if current else "Run")
        self.device.setCurrentIndex(max(0, self.device.findData(s["device"])))
        self.endpoint.setText(s["endpoint"])
        for box, key in ((self.context, "context"), (self.grow, "grow"), (self.feather, "feather")):
            box.setValue(s[key])
        self._loading = False

    def values(self):
        return {"method": self.method.currentData() or "", "endpoint": self.endpoint.text().strip(),
                "device": self.device.currentData(), "context": self.context.value(), "grow": self.grow.value(),
                "feather": self.feather.value()}

    def save(self, *_):
        if self._loading:
            return
        settings.save(self.values())
        panel = self.panel()
        if panel is not None:
            settings.save_method(panel.method.name, panel.settings())

    def refresh_layers(self):
        doc = Krita.instance().activeDocument()
        names = document.layer_names(doc) if doc is not None else []
        for index in range(self.panels.count()):
            self.panels.widget(index).set_layers(names)

    # -- actions
    def run(self):
        self.save()
        self.ctl.start()

    def apply(self):
        self.save()
        self.live.apply()

    def on_live(self, on):
        self.live_toggle.blockSignals(True)
        self.live_toggle.setChecked(on)
        self.live_toggle.blockSignals(False)
        self.apply_button.setEnabled(on)

    def on_progress(self, iteration, total):
        if total <= 0:
            self.progress.setRange(0, 0)      # busy indicator until the first progress event
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(min(iteration, total))

    def on_preview(self, image):
        pix = QtGui.QPixmap.fromImage(image)
        width = max(64, self.preview.width() - 8)
        self.preview.setPixmap(pix.scaled(width, 160, KEEP_ASPECT, SMOOTH))

    def on_running(self, running):
        self.refresh_layers()
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def on_daemon_status(self, text, ok):
        self.daemon_label.setText(("Daemon: " if not text.startswith("Daemon") else "") + text)
        self.start_button.setEnabled(not ok)

    def canvasChanged(self, canvas):
        self.refresh_layers()
