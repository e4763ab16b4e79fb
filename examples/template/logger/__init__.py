from .logger import setup_logging
