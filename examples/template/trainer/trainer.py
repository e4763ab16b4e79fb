"""Trainer: one training step written once, run define-by-run (mode "eager") or compiled with
dg.function (mode "graph"); the same loss curve both ways."""
import numpy as np

import dualgraph as dg

from base import BaseTrainer

try:
    from tqdm import tqdm
except ImportError:  # no progress bars without tqdm
    tqdm = None


class Trainer(BaseTrainer):
    def __init__(self, model, criterion, metric_ftns, optimizer, config, data_loader,
                 valid_data_loader=None, lr_scheduler=None):
        super().__init__(model, criterion, metric_ftns, optimizer, config, lr_scheduler)
        self.data_loader, self.valid_data_loader = data_loader, valid_data_loader
        self.progress = config["trainer"].get("progress", True) and tqdm is not None
        mode = config["mode"]
        self.train_step = dg.function(self._train_step) if mode == "graph" else self._train_step
        self.predict = dg.function(self._predict) if mode == "graph" else self._predict

    # the training step: the same code in both modes
    def _train_step(self, x, y):
        self.optimizer.zero_grad()
        loss = self.criterion(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        return loss

    def _predict(self, x, y):
        with dg.no_grad():
            out = self.model(x)
            return out, self.criterion(out, y)

    def _train_epoch(self, epoch):
        self.model.train()
        batches = self.data_loader.epoch(epoch)
        if self.progress:
            batches = tqdm(batches, desc=f"epoch {epoch}", leave=False, total=len(self.data_loader))
        total, count = 0.0, 0
        for x, y in batches:
            loss = float(self.train_step(x, y).item())
            total, count = total + loss * len(y), count + len(y)
        log = {"loss": total / count, "lr": self.optimizer.param_groups[0]["lr"]}
        if self.valid_data_loader is not None:
            log.update({f"val_{k}": v for k, v in self.evaluate(self.valid_data_loader).items()})
        if self.lr_scheduler is not None:
            self.lr_scheduler.step()
        return log

    def evaluate(self, loader):
        self.model.eval()
        outs, targets, total = [], [], 0.0
        for x, y in loader:
            out, loss = self.predict(x, y)
            outs.append(out.numpy())
            targets.append(y.numpy())
            total += float(loss.item()) * len(y)
        self.model.train()
        out, target = np.concatenate(outs), np.concatenate(targets)
        return {"loss": total / len(target), **{m.__name__: m(out, target) for m in self.metric_ftns}}
