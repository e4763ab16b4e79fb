"""dg.nn: modules, parameters and the functional API."""
from . import functional
