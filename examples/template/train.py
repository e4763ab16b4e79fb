"""Train: python train.py -c config.json [--mode eager|graph] [-r CHECKPOINT] [--epochs N]

The same training step runs define-by-run (--mode eager) or compiled by dg.function
(--mode graph); both give the same loss curve. -r resumes from a checkpoint exactly."""
import argparse
import json
import sys

import dualgraph as dg

import data_loader.data_loaders as module_data
import model.loss as module_loss
import model.metric as module_metric
import model.model as module_arch
from parse_config import ConfigParser
from trainer import Trainer


def build(config):
    dg.manual_seed(config["seed"])
    logger = config.get_logger("train", config["trainer"]["verbosity"])
    data = config.init_obj("data_loader", module_data, seed=config["seed"])
    valid = data.split_validation()
    model = config.init_obj("arch", module_arch)
    logger.info(model)
    criterion = getattr(module_loss, config["loss"])
    metrics = [getattr(module_metric, m) for m in config["metrics"]]
    optimizer = config.init_obj("optimizer", dg.optim, model.parameters())
    scheduler = config.init_obj("lr_scheduler", dg.optim.lr_scheduler, optimizer) if config.config.get("lr_scheduler") else None
    return Trainer(model, criterion, metrics, optimizer, config, data, valid, scheduler)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", "--config", default=None, help="config file path")
    ap.add_argument("-r", "--resume", default=None, help="checkpoint to resume from")
    ap.add_argument("--mode", choices=["eager", "graph"], default=None, help="define-by-run or compiled")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--save-dir", dest="save_dir", default=None)
    ap.add_argument("--run-id", dest="run_id", default=None)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--json-out", default=None, help="write the per-epoch history as JSON")
    args = ap.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        ap.error("--epochs must be at least 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    config = ConfigParser.from_args(args)
    trainer = build(config)
    history = trainer.train()
    result = {"mode": config["mode"], "train_loss": [h["loss"] for h in history],
              "val_loss": [h.get("val_loss") for h in history], "epochs": [h["epoch"] for h in history],
              "checkpoints": trainer.checkpoints, "save_dir": str(config.save_dir),
              "params": {k: v.detach().numpy().tolist() for k, v in trainer.model.state_dict().items()}}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
