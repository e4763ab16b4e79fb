"""Evaluate a checkpoint on the test split: python test.py -r CHECKPOINT [-c config.json]"""
import argparse
import json
import pathlib
import sys

import dualgraph as dg

import data_loader.data_loaders as module_data
import model.loss as module_loss
import model.metric as module_metric
import model.model as module_arch


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-c", "--config", default=None)
    ap.add_argument("-r", "--resume", required=True, help="checkpoint to evaluate")
    ap.add_argument("--json-out", default=None)
    args = ap.parse_args(argv)
    ckpt_path = pathlib.Path(args.resume)
    if not ckpt_path.is_file():
        sys.exit(f"error: checkpoint not found: {ckpt_path}")
    ckpt = dg.load(str(ckpt_path))
    config = json.loads(pathlib.Path(args.config).read_text()) if args.config else json.loads(ckpt["config"])
    model = getattr(module_arch, config["arch"]["type"])(**config["arch"]["args"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    (_, _), (x, y) = module_data.load_digits_split()
    criterion = getattr(module_loss, config["loss"])
    with dg.no_grad():
        out = model(dg.tensor(x))
        loss = float(criterion(out, dg.tensor(y)).item())
    logits = out.numpy()
    result = {"loss": loss, **{m: getattr(module_metric, m)(logits, y) for m in config["metrics"]}}
    print("  ".join(f"{k}: {v:.4f}" for k, v in result.items()))
    if args.json_out:
        pathlib.Path(args.json_out).write_text(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
