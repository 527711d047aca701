"""ganforge's TensorFlow checkpoint reader against TensorFlow's own reading of the same files.

Two steps, in two environments (ganforge never depends on TensorFlow):

1. In a throwaway environment with TensorFlow (`python3 -m venv /tmp/tfenv &&
   /tmp/tfenv/bin/pip install tensorflow-cpu`), write a checkpoint with TensorFlow's saver op
   (SaveV2, the TF1 / TF-Hub format) holding a full fake TF-Hub BigGAN module (every variable of
   the real one, from tests/fixtures/tfhub_biggan_variables.json, random values) plus tensors of
   several dtypes, read it back with tf.train.load_checkpoint and record each tensor's dtype,
   shape and SHA-256 of its bytes:

       /tmp/tfenv/bin/python benchmarks/tf_bundle_vs_tensorflow.py write /tmp/tfbundle

2. With ganforge, read every tensor with `ganforge.generators.tf_bundle` (CRC-32C checked),
   compare, and convert the fake module:

       python benchmarks/tf_bundle_vs_tensorflow.py compare /tmp/tfbundle \
           --out benchmarks/results/tf_bundle_vs_tensorflow.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTRA_DTYPES = ("float64", "float16", "int32", "int64", "uint8", "int8", "int16", "bool", "bfloat16")


def write(folder: Path, resolution: int) -> None:
    import numpy as np  # noqa: PLC0415 - TensorFlow's environment
    import tensorflow as tf  # noqa: PLC0415

    names = json.loads((ROOT / "tests" / "fixtures" / "tfhub_biggan_variables.json").read_text())
    rng = np.random.default_rng(0)
    tensors = {name: rng.standard_normal(shape).astype(np.float32)
               for name, shape in names[str(resolution)].items()}
    extra = {f"extra/{d}": rng.standard_normal((3, 5)) * 100 for d in EXTRA_DTYPES}
    folder.mkdir(parents=True, exist_ok=True)
    start, record = time.perf_counter(), {}
    for part, items, cast in (("variables", tensors, False), ("extras", extra, True)):
        prefix = str(folder / part / part)
        ordered = sorted(items)
        values = [tf.cast(tf.constant(items[n]), n.split("/")[1]) if cast else tf.constant(items[n])
                  for n in ordered]
        tf.raw_ops.SaveV2(prefix=prefix, tensor_names=ordered, shape_and_slices=[""] * len(ordered),
                          tensors=values)
        reader = tf.train.load_checkpoint(prefix)
        for name, _ in tf.train.list_variables(prefix):
            array = np.asarray(reader.get_tensor(name))  # 0-d stays 0-d; tobytes() is C order
            record[f"{part}:{name}"] = {"dtype": str(array.dtype), "shape": list(array.shape),
                                        "sha256": hashlib.sha256(array.tobytes()).hexdigest()}
    (folder / "tensorflow.json").write_text(json.dumps({
        "tensorflow": tf.__version__, "resolution": resolution, "seconds": time.perf_counter() - start,
        "tensors": record}, indent=0))
    print(f"wrote {len(record)} tensors with TensorFlow {tf.__version__} to {folder}")


def compare(folder: Path, out: Path | None) -> None:
    import torch  # noqa: PLC0415 - ganforge's environment

    from _report import provenance, write_result  # noqa: PLC0415
    from ganforge.generators.tf_bundle import TensorBundle  # noqa: PLC0415
    from ganforge.generators.tfhub_biggan import convert_variables, tfhub_config, width_of  # noqa: PLC0415

    expected = json.loads((folder / "tensorflow.json").read_text())
    start = time.perf_counter()
    bundles = {part: TensorBundle(folder / part / part) for part in ("variables", "extras")}
    mismatched, total_bytes, names = [], 0, set()
    for key, want in expected["tensors"].items():
        part, _, name = key.partition(":")
        tensor = bundles[part].read(name)  # raises on a CRC-32C mismatch
        raw = (tensor.view(torch.int16) if tensor.dtype == torch.bfloat16 else tensor).numpy().tobytes()
        total_bytes += len(raw)
        dtype = "bfloat16" if tensor.dtype == torch.bfloat16 else str(tensor.numpy().dtype)
        if (dtype != want["dtype"] or list(tensor.shape) != want["shape"]
                or hashlib.sha256(raw).hexdigest() != want["sha256"]):
            mismatched.append(key)
    read_seconds = time.perf_counter() - start
    names = {f"{part}:{n}" for part, b in bundles.items() for n in b.names()}
    module = bundles["variables"]
    config = tfhub_config(expected["resolution"], width_of(module))
    start = time.perf_counter()
    state = convert_variables(module, config)
    convert_seconds = time.perf_counter() - start
    result = {
        "benchmark": "tf_bundle_vs_tensorflow", "tensorflow": expected["tensorflow"],
        "tensors_compared": len(expected["tensors"]), "names_equal": names == set(expected["tensors"]),
        "mismatched": mismatched, "bytes_read": total_bytes, "read_and_crc_seconds": read_seconds,
        "dtypes": sorted({v["dtype"] for v in expected["tensors"].values()}),
        "fake_module_resolution": expected["resolution"], "fake_module_variables": len(module.names()),
        "converted_state_dict_keys": len(state), "convert_seconds": convert_seconds, **provenance(),
        "command": "/tmp/tfenv/bin/python benchmarks/tf_bundle_vs_tensorflow.py write DIR && "
                   "python benchmarks/tf_bundle_vs_tensorflow.py compare DIR",
    }
    write_result(result, out)
    if mismatched or not result["names_equal"]:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("write", "compare"))
    parser.add_argument("folder", type=Path)
    parser.add_argument("--resolution", type=int, default=128, choices=(128, 256, 512))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.step == "write":
        write(args.folder, args.resolution)
    else:
        compare(args.folder, args.out)


if __name__ == "__main__":
    main()
