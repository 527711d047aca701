"""A generator's identity: the SHA-256 of its weights, stored with every latent and direction
so that a latent projected with one generator is refused by another (it would decode to
something else without any error)."""

from __future__ import annotations

import hashlib

from torch import nn

from ganforge.errors import GanforgeError


def fingerprint(network: nn.Module) -> str:
    """SHA-256 over the state dict's names and bytes (sorted by name)."""
    digest = hashlib.sha256()
    for key, value in sorted(network.state_dict().items()):
        digest.update(key.encode())
        digest.update(str(tuple(value.shape)).encode())
        digest.update(value.detach().cpu().contiguous().float().numpy().tobytes())
    return digest.hexdigest()


def check_same(stored: str, actual: str, path: str, what: str) -> None:
    """One line when a file was made with another generator."""
    if stored and stored != actual:
        raise GanforgeError(f"{path}: this {what} was made with another generator (weights "
                            f"{stored[:12]}, this one's {actual[:12]}); use the generator it came from")
