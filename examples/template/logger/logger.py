"""Logging to the console and to the run's log directory."""
import logging


def setup_logging(log_dir, level=logging.INFO):
    root = logging.getLogger("template")
    root.handlers.clear()
    root.setLevel(level)
    fmt = logging.Formatter("%(asctime)s - %(name)s - %(message)s")
    for h in (logging.StreamHandler(), logging.FileHandler(log_dir / "info.log")):
        h.setFormatter(fmt)
        root.addHandler(h)
    return root
