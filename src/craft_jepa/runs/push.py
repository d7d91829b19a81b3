"""Upload an export folder to the Hugging Face Hub (`craft-jepa export ... --push-to-hub org/name`).

Two steps, so the second stays thin:
- `prepare_upload(folder, repo_id)` checks that the folder loads as an export, rewrites its
  model card (README.md) to name the repo, and lists the files that will be uploaded: everything
  in the folder except hidden files (the card, craft_jepa.json, predictor.safetensors, eval/,
  pictures, decoder files, ...);
- `push_to_hub(folder, repo_id)` then refuses in offline mode (HF_HUB_OFFLINE) before any request,
  creates the repo if needed (`HfApi.create_repo(exist_ok=True)`) and uploads the folder
  (`HfApi.upload_folder`), with the token the user configured (HF_TOKEN, `hf auth login`).
"""

from __future__ import annotations

import os
from pathlib import Path

from craft_jepa.hub import is_offline, parse_hub_ref
from craft_jepa.runs.loading import load_exported
from craft_jepa.runs.model_card import write_card

IGNORED = [".*", "**/.*", "__pycache__", "**/__pycache__/**"]


class HubPushError(RuntimeError):
    """The export cannot be uploaded (offline mode, bad repo id)."""


def check_repo_id(repo_id: str) -> str:
    try:
        ref = parse_hub_ref(repo_id if repo_id.startswith("hf://") else f"hf://{repo_id}")
    except ValueError as err:
        raise HubPushError(f"--push-to-hub: {err}") from None
    if ref is None or ref.revision or ref.filename:
        raise HubPushError(f"--push-to-hub {repo_id!r}: give a repo id ORG/NAME (no @revision or file)")
    return ref.repo_id


def prepare_upload(folder: str | os.PathLike[str], repo_id: str) -> list[str]:
    """Check the export, write its card for `repo_id`; -> the relative paths that would be uploaded."""

    repo_id = check_repo_id(repo_id)
    folder = Path(folder)
    load_exported(folder)  # a folder that does not load as an export is never uploaded
    write_card(folder, repo_id)
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            files.append(relative.as_posix())
    return files


def push_to_hub(folder: str | os.PathLike[str], repo_id: str, *, private: bool | None = None,
                revision: str | None = None, commit_message: str | None = None) -> tuple[str, list[str]]:
    """Upload the export folder to the model repo `repo_id`; -> (the commit's URL, files uploaded)."""

    files = prepare_upload(folder, repo_id)
    repo_id = check_repo_id(repo_id)
    if is_offline():
        raise HubPushError(f"cannot push {folder} to {repo_id}: HF_HUB_OFFLINE is set, so nothing was uploaded. "
                           f"The folder is ready ({len(files)} files, model card README.md); unset HF_HUB_OFFLINE "
                           f"and run `hf upload {repo_id} {folder} .` or export again with --push-to-hub")
    # huggingface_hub's API client is heavy to import; only an upload needs it.
    from huggingface_hub import HfApi
    from huggingface_hub.utils import HfHubHTTPError

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="model", exist_ok=True,
                        **({} if private is None else {"private": private}))
        info = api.upload_folder(repo_id=repo_id, repo_type="model", folder_path=str(folder), revision=revision,
                                 commit_message=commit_message or "Upload craft-jepa world model",
                                 ignore_patterns=IGNORED)
    except HfHubHTTPError as err:
        raise HubPushError(f"cannot push {folder} to {repo_id}: {err} (a write token is needed: set HF_TOKEN "
                           f"or run `hf auth login`)") from None
    return str(getattr(info, "commit_url", info)), files


__all__ = ["HubPushError", "check_repo_id", "prepare_upload", "push_to_hub"]
