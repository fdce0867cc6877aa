"""The Painterly docker: method, style source, strength, quality, daemon endpoint/device, edge handling,
progress with live preview, Cancel and the daemon's status.  Settings persist in kritarc [painterly]."""
from krita import DockWidget, Krita

from . import harmonize
from .qt_compat import KEEP_ASPECT, SMOOTH, QtCore, QtGui, QtWidgets, enum

DOCKER_ID = "painterly_docker"
DOCKER_TITLE = "Painterly"


class PainterlyDocker(DockWidget):
    def __init__(self):
        DockWidget.__init__(self)
        self.setWindowTitle(DOCKER_TITLE)
        self.setObjectName(DOCKER_ID)
        self.ctl = harmonize.controller()
        self._loading = True
        root = QtWidgets.QWidget(self)
        self.setWidget(root)
        form = QtWidgets.QFormLayout()
        outer = QtWidgets.QVBoxLayout(root)
        outer.addLayout(form)

        self.method = QtWidgets.QComboBox()
        for key, label in harmonize.METHOD_LABELS.items():
            self.method.addItem(label, key)
        self.method.setToolTip("Harmonize: blend a pasted object into the painting.\n"
                               "Stylize: paint the selected area in the style source.\n"
                               "Photo style: photorealistic colour/texture transfer.")
        form.addRow("Method", self.method)

        self.style_source = QtWidgets.QComboBox()
        for key, label in harmonize.STYLE_SOURCES.items():
            self.style_source.addItem(label, key)
        form.addRow("Style from", self.style_source)
        self.style_layer = QtWidgets.QComboBox()
        self.style_layer.setEditable(True)
        self.style_layer.setToolTip("Layer whose pixels give the style (the painting)")
        form.addRow("Style layer", self.style_layer)
        file_row = QtWidgets.QHBoxLayout()
        self.style_file = QtWidgets.QLineEdit()
        self.style_file.setPlaceholderText("painting.png")
        browse = QtWidgets.QToolButton()
        browse.setText("...")
        browse.clicked.connect(self.browse_style)
        file_row.addWidget(self.style_file)
        file_row.addWidget(browse)
        form.addRow("Style file", file_row)

        self.strength = QtWidgets.QSlider(enum(QtCore.Qt, "Orientation", "Horizontal"))
        self.strength.setRange(0, 100)
        self.strength_label = QtWidgets.QLabel()
        srow = QtWidgets.QHBoxLayout()
        srow.addWidget(self.strength)
        srow.addWidget(self.strength_label)
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText("%d%%" % v))
        form.addRow("Strength", srow)

        self.quality = QtWidgets.QComboBox()
        for q in harmonize.QUALITIES:
            self.quality.addItem(q.capitalize(), q)
        form.addRow("Quality", self.quality)

        self.context = self._spin(0, 2048, " px", "Context margin around the selection sent with it")
        self.grow = self._spin(0, 256, " px", "Grow the selection before blending the result in")
        self.feather = self._spin(0, 256, " px", "Feather the result's edge")
        edge = QtWidgets.QHBoxLayout()
        for label, widget in (("grow", self.grow), ("feather", self.feather)):
            edge.addWidget(QtWidgets.QLabel(label))
            edge.addWidget(widget)
        form.addRow("Context", self.context)
        form.addRow("Edge", edge)
        self.iterations = self._spin(0, 10000, "", "Optimisation steps (0: from the quality preset)")
        self.iterations.setSpecialValueText("auto")
        self.size = self._spin(0, 4096, " px", "Working size, longest side (0: from the quality preset)")
        self.size.setSpecialValueText("auto")
        adv = QtWidgets.QHBoxLayout()
        adv.addWidget(self.iterations)
        adv.addWidget(self.size)
        form.addRow("Steps / size", adv)

        self.endpoint = QtWidgets.QLineEdit()
        self.endpoint.setPlaceholderText("your own daemon (default)")
        form.addRow("Daemon", self.endpoint)
        self.device = QtWidgets.QComboBox()
        for d in harmonize.DEVICES:
            self.device.addItem(d, d)
        drow = QtWidgets.QHBoxLayout()
        drow.addWidget(self.device)
        self.start_button = QtWidgets.QPushButton("Start daemon")
        self.start_button.clicked.connect(self.ctl.start_daemon)
        self.check_button = QtWidgets.QPushButton("Check")
        self.check_button.clicked.connect(self.ctl.check_daemon)
        drow.addWidget(self.start_button)
        drow.addWidget(self.check_button)
        form.addRow("Device", drow)
        self.daemon_label = QtWidgets.QLabel("Daemon: not checked yet")
        self.daemon_label.setWordWrap(True)
        outer.addWidget(self.daemon_label)

        buttons = QtWidgets.QHBoxLayout()
        self.run_button = QtWidgets.QPushButton("Harmonize Selection")
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QtWidgets.QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.ctl.cancel)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        outer.addLayout(buttons)
        self.progress = QtWidgets.QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        outer.addWidget(self.progress)
        self.preview = QtWidgets.QLabel()
        self.preview.setMinimumHeight(96)
        self.preview.setAlignment(enum(QtCore.Qt, "AlignmentFlag", "AlignCenter"))
        self.preview.setFrameShape(enum(QtWidgets.QFrame, "Shape", "StyledPanel"))
        outer.addWidget(self.preview)
        self.status = QtWidgets.QLabel("Select the pasted object, then Harmonize Selection.")
        self.status.setWordWrap(True)
        outer.addWidget(self.status)
        outer.addStretch(1)

        self.load()
        for combo in (self.method, self.style_source, self.quality, self.device):
            combo.currentIndexChanged.connect(self.save)
        self.style_layer.currentTextChanged.connect(self.save)
        for edit in (self.style_file, self.endpoint):
            edit.editingFinished.connect(self.save)
        for spin in (self.context, self.grow, self.feather, self.iterations, self.size):
            spin.valueChanged.connect(self.save)
        self.strength.valueChanged.connect(self.save)
        self.style_source.currentIndexChanged.connect(self.update_enabled)
        self.update_enabled()

        self.ctl.status.connect(self.status.setText)
        self.ctl.progress.connect(self.on_progress)
        self.ctl.preview.connect(self.on_preview)
        self.ctl.running.connect(self.on_running)
        self.ctl.daemon_status.connect(self.on_daemon_status)
        QtCore.QTimer.singleShot(500, self.ctl.check_daemon)
        Krita.instance().notifier().viewCreated.connect(self.refresh_layers)

    def _spin(self, lo, hi, suffix, tip):
        spin = QtWidgets.QSpinBox()
        spin.setRange(lo, hi)
        spin.setSuffix(suffix)
        spin.setToolTip(tip)
        return spin

    # -- settings
    def load(self):
        self._loading = True
        s = harmonize.load_settings()
        for combo, key in ((self.method, "method"), (self.style_source, "style_source"),
                           (self.quality, "quality"), (self.device, "device")):
            index = combo.findData(s[key])
            combo.setCurrentIndex(max(0, index))
        self.style_layer.setEditText(s["style_layer"])
        self.style_file.setText(s["style_file"])
        self.endpoint.setText(s["endpoint"])
        self.strength.setValue(s["strength"])
        self.strength_label.setText("%d%%" % s["strength"])
        for spin, key in ((self.context, "context"), (self.grow, "grow"), (self.feather, "feather"),
                          (self.iterations, "iterations"), (self.size, "size")):
            spin.setValue(s[key])
        self._loading = False

    def values(self):
        return {"method": self.method.currentData(), "style_source": self.style_source.currentData(),
                "style_layer": self.style_layer.currentText(), "style_file": self.style_file.text(),
                "strength": self.strength.value(), "quality": self.quality.currentData(),
                "endpoint": self.endpoint.text().strip(), "device": self.device.currentData(),
                "context": self.context.value(), "grow": self.grow.value(), "feather": self.feather.value(),
                "iterations": self.iterations.value(), "size": self.size.value()}

    def save(self, *_):
        if not self._loading:
            harmonize.save_settings(self.values())

    def update_enabled(self, *_):
        source = self.style_source.currentData()
        self.style_layer.setEnabled(source == "layer")
        self.style_file.setEnabled(source == "file")

    def refresh_layers(self):
        doc = Krita.instance().activeDocument()
        current = self.style_layer.currentText()
        self.style_layer.blockSignals(True)
        self.style_layer.clear()
        if doc is not None:
            for node in harmonize.all_nodes(doc.rootNode()):
                if not node.type().endswith("mask"):
                    self.style_layer.addItem(node.name())
        self.style_layer.setEditText(current)
        self.style_layer.blockSignals(False)

    def browse_style(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, "Style image", "",
                                                        "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp)")
        if path:
            self.style_file.setText(path)
            index = self.style_source.findData("file")
            self.style_source.setCurrentIndex(index)
            self.save()

    # -- actions
    def run(self):
        self.save()
        self.ctl.start(self.values())

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
