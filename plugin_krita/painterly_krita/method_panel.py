"""The docker's part for one method, built from its declaration: where each of its images comes from
(one picker per image input besides the base: the visible layers below, a chosen layer, an image file,
or none for optional ones), whether the base is what is visible or the active layer alone, and its
parameters (param_widgets). Reads and writes the method's settings (plugin_core.settings)."""
from .painterly_client.plugin_core import settings as core_settings
from .param_widgets import ParamForm
from .qt_compat import QtWidgets, Signal

FILE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.webp)"


class SourcePicker(QtWidgets.QWidget):
    """Where one image input comes from."""
    changed = Signal()

    def __init__(self, spec, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.spec = spec
        self.kind = QtWidgets.QComboBox()
        for kind in core_settings.source_kinds(spec):
            self.kind.addItem(core_settings.SOURCE_LABELS[kind], kind)
        self.kind.setToolTip(spec.help)
        self.layer = QtWidgets.QComboBox()
        self.layer.setEditable(True)
        self.layer.setToolTip("The layer whose pixels give the %s" % spec.label.lower())
        self.file = QtWidgets.QLineEdit()
        self.file.setPlaceholderText("painting.png")
        browse = QtWidgets.QToolButton()
        browse.setText("...")
        browse.clicked.connect(self.browse)
        rows = QtWidgets.QVBoxLayout(self)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.addWidget(self.kind)
        rows.addWidget(self.layer)
        self.file_row = QtWidgets.QWidget()
        file_row = QtWidgets.QHBoxLayout(self.file_row)
        file_row.setContentsMargins(0, 0, 0, 0)
        file_row.addWidget(self.file)
        file_row.addWidget(browse)
        rows.addWidget(self.file_row)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.layer.currentTextChanged.connect(lambda *_: self.changed.emit())
        self.file.editingFinished.connect(self.changed.emit)
        self._update_enabled()

    def _kind_changed(self, *_):
        self._update_enabled()
        self.changed.emit()

    def _update_enabled(self):
        kind = self.kind.currentData()
        self.layer.setVisible(kind == core_settings.LAYER)
        self.file_row.setVisible(kind == core_settings.FILE)

    def source(self):
        return core_settings.Source(self.kind.currentData(), self.layer.currentText(), self.file.text())

    def set_source(self, source):
        self.kind.setCurrentIndex(max(0, self.kind.findData(source.kind)))
        self.layer.setEditText(source.layer)
        self.file.setText(source.file)
        self._update_enabled()

    def set_layers(self, names):
        current = self.layer.currentText()
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(list(names))
        self.layer.setEditText(current)
        self.layer.blockSignals(False)

    def browse(self):
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self, self.spec.label, "", FILE_FILTER)
        if path:
            self.file.setText(path)
            self.kind.setCurrentIndex(self.kind.findData(core_settings.FILE))
            self.changed.emit()


class MethodPanel(QtWidgets.QWidget):
    """All the widgets of one method."""
    changed = Signal()

    def __init__(self, method, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.method = method
        form = QtWidgets.QFormLayout()
        self.sample_merged = QtWidgets.QCheckBox("What is visible (all layers)")
        self.sample_merged.setToolTip("On: the %s is what is visible, e.g. an object pasted on its own layer over "
                                      "the painting. Off: the active layer alone." % method.base.label.lower())
        form.addRow(method.base.label, self.sample_merged)
        self.sources = {}
        for spec in method.sources:
            picker = self.sources[spec.name] = SourcePicker(spec)
            form.addRow(spec.label, picker)
            picker.changed.connect(self.changed.emit)
        self.params = ParamForm(method)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addLayout(form)
        outer.addWidget(self.params)
        self.sample_merged.toggled.connect(lambda *_: self.changed.emit())
        self.params.changed.connect(self.changed.emit)

    def settings(self):
        return core_settings.MethodSettings(self.params.values(),
                                            dict((name, p.source()) for name, p in self.sources.items()),
                                            self.sample_merged.isChecked())

    def set_settings(self, method_settings):
        self.blockSignals(True)
        self.params.set_values(method_settings.params)
        for name, picker in self.sources.items():
            picker.set_source(method_settings.sources[name])
        self.sample_merged.setChecked(method_settings.sample_merged)
        self.blockSignals(False)

    def set_layers(self, names):
        for picker in self.sources.values():
            picker.set_layers(names)
