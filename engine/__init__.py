"""Painterly's neural engine: pure tensors and arrays, no knowledge of sockets or applications."""
from .api import run, run_output
from .imageio import ImageError, load_image, load_mask, save_image
from .masks import MaskError
from .methods import ParameterError, get_method, method_names
from .optimize import CancelToken, Cancelled, Progress, warm_up
from .weights import MissingWeightsError

__all__ = ["run", "run_output", "load_image", "load_mask", "save_image", "get_method", "method_names", "CancelToken",
           "Cancelled", "warm_up", "Progress", "ImageError", "MaskError", "ParameterError", "MissingWeightsError"]
