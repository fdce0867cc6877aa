"""A method's parameter widgets, built from its declaration: a float with a range gets a slider with a
spin box, choices a combo box, a bool a check box, an int a spin box, text a line edit. The "basic"
parameters are shown; the "advanced" ones are folded under a toggle. Tooltips are the declared help."""
from .painterly_client.plugin_core import declarations as decl
from .qt_compat import QtCore, QtWidgets, Signal, enum

SLIDER_STEPS = 1000
BIG = 1e12                 # spin box limits for a float declared without one
INT_LIMITS = (-2 ** 31, 2 ** 31 - 1)


class SliderSpin(QtWidgets.QWidget):
    """A slider and a spin box showing the same float."""
    valueChanged = Signal(float)

    def __init__(self, spec, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.low, self.high = float(spec.min), float(spec.max)
        self.slider = QtWidgets.QSlider(enum(QtCore.Qt, "Orientation", "Horizontal"))
        self.slider.setRange(0, SLIDER_STEPS)
        self.spin = QtWidgets.QDoubleSpinBox()
        self.spin.setDecimals(spec.decimals)
        self.spin.setRange(self.low, self.high)
        self.spin.setSingleStep(spec.step)
        if spec.zero_text:                    # "auto" where 0 means automatic (the spin box's minimum)
            self.spin.setSpecialValueText(spec.zero_text)
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def _position(self, value):
        span = self.high - self.low
        return int(round((value - self.low) / span * SLIDER_STEPS)) if span > 0 else 0

    def _from_slider(self, position):
        if position != self._position(self.spin.value()):
            self.spin.setValue(self.low + (self.high - self.low) * position / float(SLIDER_STEPS))

    def _from_spin(self, value):
        self.slider.blockSignals(True)
        self.slider.setValue(self._position(value))
        self.slider.blockSignals(False)
        self.valueChanged.emit(value)

    def value(self):
        return self.spin.value()

    def setValue(self, value):
        self.spin.setValue(float(value))
        self._from_spin(self.spin.value())


class Field(object):
    """One parameter's widget with a uniform get/set and change signal."""

    def __init__(self, spec):
        self.spec, self.kind = spec, spec.widget
        if self.kind == decl.SLIDER:
            self.widget = SliderSpin(spec)
            self.changed = self.widget.valueChanged
        elif self.kind == decl.COMBO:
            self.widget = QtWidgets.QComboBox()
            for choice in spec.choices:
                self.widget.addItem(str(choice), choice)
            self.changed = self.widget.currentIndexChanged
        elif self.kind == decl.CHECK:
            self.widget = QtWidgets.QCheckBox()
            self.changed = self.widget.toggled
        elif self.kind == decl.TEXT:
            self.widget = QtWidgets.QLineEdit()
            self.changed = self.widget.editingFinished
        elif spec.type == "int":
            self.widget = QtWidgets.QSpinBox()
            low, high = INT_LIMITS
            self.widget.setRange(int(spec.min) if spec.min is not None else low,
                                 int(spec.max) if spec.max is not None else high)
            self.changed = self.widget.valueChanged
        else:
            self.widget = QtWidgets.QDoubleSpinBox()
            self.widget.setDecimals(spec.decimals)
            self.widget.setRange(spec.min if spec.min is not None else -BIG, spec.max if spec.max is not None else BIG)
            self.widget.setSingleStep(spec.step)
            self.changed = self.widget.valueChanged
        if self.kind == decl.SPIN and spec.zero_text:
            self.widget.setSpecialValueText(spec.zero_text)
        self.widget.setToolTip(spec.help)
        self.widget.setObjectName("param_" + spec.name)
        self.set(spec.default)

    def get(self):
        if self.kind == decl.COMBO:
            return self.widget.currentData()
        if self.kind == decl.CHECK:
            return self.widget.isChecked()
        if self.kind == decl.TEXT:
            return self.widget.text()
        return self.widget.value()

    def set(self, value):
        if self.kind == decl.COMBO:
            self.widget.setCurrentIndex(max(0, self.widget.findData(value)))
        elif self.kind == decl.CHECK:
            self.widget.setChecked(bool(value))
        elif self.kind == decl.TEXT:
            self.widget.setText(str(value))
        else:
            self.widget.setValue(value)


class ParamForm(QtWidgets.QWidget):
    """Every declared parameter of one method: basic ones shown, advanced ones behind a toggle."""
    changed = Signal()

    def __init__(self, method, parent=None):
        QtWidgets.QWidget.__init__(self, parent)
        self.method = method
        self.fields = dict((spec.name, Field(spec)) for spec in method.params)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        basic = QtWidgets.QFormLayout()
        outer.addLayout(basic)
        advanced = method.params_in("advanced")
        self.advanced_box = QtWidgets.QWidget()
        folded = QtWidgets.QFormLayout(self.advanced_box)
        folded.setContentsMargins(12, 0, 0, 0)
        for spec in method.params:
            (basic if spec.basic else folded).addRow(spec.label, self.fields[spec.name].widget)
            self.fields[spec.name].changed.connect(lambda *_: self.changed.emit())
        self.advanced_toggle = QtWidgets.QToolButton()
        self.advanced_toggle.setText("Advanced (%d)" % len(advanced))
        self.advanced_toggle.setCheckable(True)
        self.advanced_toggle.setToolButtonStyle(enum(QtCore.Qt, "ToolButtonStyle", "ToolButtonTextBesideIcon"))
        self.advanced_toggle.toggled.connect(self.show_advanced)
        if advanced:
            outer.addWidget(self.advanced_toggle)
            outer.addWidget(self.advanced_box)
        self.show_advanced(False)

    def show_advanced(self, shown):
        self.advanced_box.setVisible(bool(shown))
        self.advanced_toggle.setArrowType(enum(QtCore.Qt, "ArrowType", "DownArrow" if shown else "RightArrow"))

    def values(self):
        return dict((name, field.get()) for name, field in self.fields.items())

    def set_values(self, values):
        for name, value in values.items():
            if name in self.fields:
                self.fields[name].set(value)
