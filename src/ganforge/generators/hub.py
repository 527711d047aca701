"""The Hugging Face Hub: download an exported folder by id, push one as a commit.

huggingface_hub is optional (the `hf` extra) and imported only when the Hub is used.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ganforge.errors import GanforgeError
from ganforge.generator import Generator
from ganforge.generators.export import save_generator_folder
from ganforge.generators.layout import CARD_FILE, CONFIG_FILE, WEIGHTS_FILE


def looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def _hub_api() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise GanforgeError("the Hugging Face Hub needs huggingface_hub: "
                            "pip install 'ganforge[hf]'") from None
    return huggingface_hub


def _one_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def download_from_hub(repo_id: str) -> Path:
    """The exported folder from the Hub (cached by huggingface_hub; works offline once cached)."""
    hub = _hub_api()
    try:
        folder = hub.snapshot_download(repo_id, allow_patterns=[WEIGHTS_FILE, CONFIG_FILE, CARD_FILE])
    except Exception as exc:  # network, auth, missing repo: all one line for the user
        raise GanforgeError(f"could not download '{repo_id}' from the Hugging Face Hub "
                            f"({_one_line(exc)})") from None
    return Path(folder)


def push_folder_to_hub(
    g: Generator, repo_id: str, private: bool = False, token: str | None = None
) -> str:
    """Export to a temporary folder and upload it as one commit; returns the repository URL."""
    hub = _hub_api()
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_generator_folder(g, Path(tmp) / "export")
        try:
            api = hub.HfApi(token=token)
            url = api.create_repo(repo_id, private=private, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=str(folder),
                              commit_message="Upload ganforge generator")
        except Exception as exc:
            raise GanforgeError(f"could not push to '{repo_id}' on the Hugging Face Hub "
                                f"({_one_line(exc)})") from None
    return str(url)
