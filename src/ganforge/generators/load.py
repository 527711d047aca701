"""`ganforge.load(source)`: one generator type from every kind of source.

A run directory (GAN or translation), an exported folder or `.safetensors` file (GAN or
translation), a BigGAN-deep checkpoint folder (pytorch_model.bin + config.json), a
BigGAN-PyTorch weights folder (G_ema.pth ...), an unpacked TF-Hub BigGAN module (converted as
it is read: `ganforge convert` once is faster), a stylegan2-ada-pytorch network pickle (.pkl,
read without running its code), a converted export, or a Hugging Face Hub id
("user/name").
"""

from __future__ import annotations

from pathlib import Path

import torch

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.biggan_pytorch import biggan_pytorch_generator, is_biggan_pytorch_folder
from ganforge.generators.convert import biggan_deep_from_checkpoint, is_biggan_deep_folder
from ganforge.generators.export import save_generator_folder
from ganforge.generators.hub import download_from_hub, looks_like_hub_id, push_folder_to_hub
from ganforge.generators.layout import is_generator_folder
from ganforge.generators.read import read_export, read_folder
from ganforge.generators.runs import generator_from_run, is_run_dir
from ganforge.generators.stylegan2_ada import is_network_pickle, stylegan2_ada_generator
from ganforge.generators.tfhub_biggan import is_tfhub_module, tfhub_generator
from ganforge.nn.device import parse_device


class PretrainedGenerator(Generator):
    """The generator type `load` returns: a `Generator` that can also be shared."""

    @classmethod
    def of(cls, g: Generator) -> PretrainedGenerator:
        """`g` as this type, sharing its networks (nothing is copied or re-prepared)."""
        if isinstance(g, cls):
            return g
        shared = cls.__new__(cls)
        shared.__dict__.update(g.__dict__)
        return shared

    def save_pretrained(self, directory: Path | str) -> Path:
        """model.safetensors + config.json + README.md (model card) in `directory`."""
        return save_generator_folder(self, Path(directory))

    def push_to_hub(self, repo_id: str, private: bool = False, token: str | None = None) -> str:
        """Upload the exported folder to the Hugging Face Hub; returns the repository URL."""
        return push_folder_to_hub(self, repo_id, private=private, token=token)

    @classmethod
    def from_pretrained(
        cls, source: Path | str, device: str | torch.device = "cpu"
    ) -> PretrainedGenerator:
        return load(source, device=device)


def load(
    source: Path | str, device: str | torch.device = "cpu", ema: bool = True,
    checkpoint: Path | str | None = None,
) -> PretrainedGenerator:
    """The generator of `source`, on `device`, in eval mode.

    `ema` and `checkpoint` apply to run directories: the EMA generator (or G) of the newest
    (or the given) checkpoint; for a translation run that kept one (`translation.ema=true`) the
    EMA generators, else its generators as trained.
    """
    device = parse_device(device)  # before reading: a typo costs no load
    return PretrainedGenerator.of(_read(source, ema, checkpoint)).to(device)


def _read(source: Path | str, ema: bool, checkpoint: Path | str | None) -> Generator:
    path = Path(source)
    if path.exists():
        if is_network_pickle(path):  # read safely: its embedded code is never run
            return stylegan2_ada_generator(path)
        if is_generator_folder(path) or path.is_file():
            return read_export(path)
        if is_biggan_deep_folder(path):
            return biggan_deep_from_checkpoint(path)
        if not is_run_dir(path) and is_biggan_pytorch_folder(path):
            return biggan_pytorch_generator(path)
        if is_tfhub_module(path):
            return tfhub_generator(path)
        return generator_from_run(path, ema=ema, checkpoint=checkpoint)
    if looks_like_hub_id(str(source)):
        return read_folder(download_from_hub(str(source)))
    raise GanforgeError(f"'{source}' does not exist (expected a run directory, an exported "
                        "generator, a BigGAN-deep, BigGAN-PyTorch or TF-Hub BigGAN folder, a "
                        "stylegan2-ada-pytorch .pkl or a Hub id user/name)")
