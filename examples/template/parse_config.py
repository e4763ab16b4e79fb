"""ConfigParser: config.json plus command-line overrides, the run's save and log directories,
and `init_obj` to build the object a config entry names (pytorch-template's)."""
import json
import logging
import pathlib
import sys
from datetime import datetime

from logger import setup_logging

LEVELS = {0: logging.WARNING, 1: logging.INFO, 2: logging.DEBUG}


class ConfigParser:
    def __init__(self, config, resume=None, run_id=None):
        self.config, self.resume = config, resume
        save_dir = pathlib.Path(config["trainer"]["save_dir"])
        run_id = run_id or datetime.now().strftime(r"%m%d_%H%M%S_%f")
        self.save_dir = save_dir / "models" / config["name"] / run_id
        self.log_dir = save_dir / "log" / config["name"] / run_id
        self.save_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        (self.save_dir / "config.json").write_text(json.dumps(config, indent=4))
        setup_logging(self.log_dir)

    @classmethod
    def from_args(cls, args):
        path = pathlib.Path(args.config) if args.config else None
        if args.resume and path is None:
            path = pathlib.Path(args.resume).parent / "config.json"
        if path is None:
            sys.exit("error: give a config file with -c config.json (or a checkpoint to resume with -r)")
        if not path.is_file():
            sys.exit(f"error: config file not found: {path}")
        try:
            config = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            sys.exit(f"error: {path} is not valid JSON: {e}")
        for key, value in (("mode", getattr(args, "mode", None)),):
            if value is not None:
                config[key] = value
        if getattr(args, "epochs", None) is not None:
            config["trainer"]["epochs"] = args.epochs
        if getattr(args, "save_dir", None) is not None:
            config["trainer"]["save_dir"] = args.save_dir
        if getattr(args, "no_progress", False):
            config["trainer"]["progress"] = False
        return cls(config, resume=args.resume, run_id=getattr(args, "run_id", None))

    def init_obj(self, name, module, *args, **kwargs):
        entry = self[name]
        return getattr(module, entry["type"])(*args, **{**entry.get("args", {}), **kwargs})

    def get_logger(self, name, verbosity=1):
        logger = logging.getLogger(f"template.{name}")
        logger.setLevel(LEVELS.get(verbosity, logging.INFO))
        return logger

    def __getitem__(self, name):
        return self.config[name]
