"""Reads a ferroflow event directory with TensorBoard's own reader and prints what it found as JSON.

Usage: python read_events.py LOGDIR. Needs only the `tensorboard` package (no TensorFlow).
Called by tests/tensorboard.rs, which checks the JSON.
"""
import json
import sys

from tensorboard.backend.event_processing import event_accumulator as ea

# 0 = keep every event (the defaults sample: 1 histogram, 4 images per tag).
acc = ea.EventAccumulator(
    sys.argv[1],
    size_guidance={ea.SCALARS: 0, ea.HISTOGRAMS: 0, ea.IMAGES: 0, ea.TENSORS: 0, ea.COMPRESSED_HISTOGRAMS: 0},
)
acc.Reload()
tags = acc.Tags()
out = {
    "tags": {k: sorted(v) for k, v in tags.items() if isinstance(v, list)},
    "scalars": {t: [[e.step, e.value] for e in acc.Scalars(t)] for t in tags["scalars"]},
    "histograms": {
        t: [
            {
                "step": e.step,
                "num": e.histogram_value.num,
                "sum": e.histogram_value.sum,
                "min": e.histogram_value.min,
                "max": e.histogram_value.max,
                "sum_squares": e.histogram_value.sum_squares,
                "bucket": list(e.histogram_value.bucket),
                "bucket_limit": list(e.histogram_value.bucket_limit),
            }
            for e in acc.Histograms(t)
        ]
        for t in tags["histograms"]
    },
    "images": {
        t: [{"step": e.step, "width": e.width, "height": e.height, "png_bytes": len(e.encoded_image_string)} for e in acc.Images(t)]
        for t in tags["images"]
    },
    "text": {
        t: [[e.step, [s.decode("utf-8") for s in e.tensor_proto.string_val]] for e in acc.Tensors(t)]
        for t in tags["tensors"]
    },
}
if tags.get("graph"):
    g = acc.Graph()
    out["graph"] = {
        "nodes": [{"name": n.name, "op": n.op, "input": list(n.input), "attr": sorted(n.attr.keys())} for n in g.node]
    }
print(json.dumps(out))
