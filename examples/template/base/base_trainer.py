"""BaseTrainer: the epoch loop, monitoring (best value, early stop) and checkpoints.

A checkpoint (dg.save: a zip of .npy arrays and JSON, no pickle) holds the model's and the
optimizer's and scheduler's state, the epoch, the best monitored value and the config, so
`train.py -r CHECKPOINT` continues exactly as the uninterrupted run would."""
import json
import math
import pathlib

import dualgraph as dg


class BaseTrainer:
    def __init__(self, model, criterion, metric_ftns, optimizer, config, lr_scheduler=None):
        self.config = config
        self.logger = config.get_logger("trainer", config["trainer"]["verbosity"])
        self.model, self.criterion, self.metric_ftns = model, criterion, metric_ftns
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        cfg = config["trainer"]
        self.epochs, self.save_period = cfg["epochs"], cfg["save_period"]
        self.monitor = cfg.get("monitor", "off")
        if self.monitor == "off":
            self.mnt_mode, self.mnt_best = "off", 0
        else:
            self.mnt_mode, self.mnt_metric = self.monitor.split()
            self.mnt_best = math.inf if self.mnt_mode == "min" else -math.inf
            self.early_stop = cfg.get("early_stop", math.inf)
        self.start_epoch = 1
        self.checkpoint_dir = pathlib.Path(config.save_dir)
        self.history = []   # one log dict per epoch
        self.checkpoints = []
        if config.resume is not None:
            self._resume_checkpoint(config.resume)

    def _train_epoch(self, epoch):
        raise NotImplementedError

    def train(self):
        not_improved = 0
        for epoch in range(self.start_epoch, self.epochs + 1):
            log = {"epoch": epoch, **self._train_epoch(epoch)}
            self.history.append(log)
            self.logger.info("    " + "  ".join(f"{k}: {v:.6f}" if isinstance(v, float) else f"{k}: {v}"
                                                for k, v in log.items()))
            best = False
            if self.mnt_mode != "off":
                value = log[self.mnt_metric]
                improved = value <= self.mnt_best if self.mnt_mode == "min" else value >= self.mnt_best
                if improved:
                    self.mnt_best, not_improved, best = value, 0, True
                else:
                    not_improved += 1
                if not_improved > self.early_stop:
                    self.logger.info(f"Validation performance didn't improve for {self.early_stop} epochs. Training stops.")
                    break
            if epoch % self.save_period == 0:
                self._save_checkpoint(epoch, save_best=best)
        return self.history

    def _save_checkpoint(self, epoch, save_best=False):
        state = {"arch": type(self.model).__name__, "epoch": epoch,
                 "state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "lr_scheduler": self.lr_scheduler.state_dict() if self.lr_scheduler else None,
                 "monitor_best": self.mnt_best, "config": json.dumps(self.config.config)}
        path = self.checkpoint_dir / f"checkpoint-epoch{epoch}.pth"
        dg.save(state, str(path))
        self.checkpoints.append(str(path))
        self.logger.debug(f"Saving checkpoint: {path} ...")
        if save_best:
            dg.save(state, str(self.checkpoint_dir / "model_best.pth"))

    def _resume_checkpoint(self, path):
        self.logger.info(f"Loading checkpoint: {path} ...")
        ckpt = dg.load(str(path))
        self.start_epoch = int(ckpt["epoch"]) + 1
        self.mnt_best = float(ckpt["monitor_best"])
        self.model.load_state_dict(ckpt["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.lr_scheduler is not None and ckpt["lr_scheduler"] is not None:
            self.lr_scheduler.load_state_dict(ckpt["lr_scheduler"])
        self.logger.info(f"Checkpoint loaded. Resume training from epoch {self.start_epoch}")
