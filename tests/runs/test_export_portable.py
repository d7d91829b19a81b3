"""An export made on the training cluster, moved to another machine with its encoder elsewhere.

The export records the cluster's absolute `encoder.checkpoint`; once both have moved, loading
must fail with a message naming the override, and the override (API and CLI) must give the
same latents as the original encoder. An export that keeps its encoder inside its own folder
(recorded relative) moves as one piece.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from testkit.train_configs import tiny_config
from craft_jepa.api import WorldModel
from craft_jepa.cli.main import main
from craft_jepa.encoders import EncoderConfig, FrozenEncoder
from craft_jepa.runs.loading import load_run
from craft_jepa.runs.layout import META_FILE
from craft_jepa.runs.export import export_run
from craft_jepa.train.loop import train

FRAMES = torch.randn(1, 2, 3, 64, 64, generator=torch.Generator().manual_seed(0))  # (B, T, 3, H, W)


@pytest.fixture(scope="module")
def cluster(synth_dataset, tmp_path_factory):
    """A 4-step run whose encoder weights live at an absolute 'cluster' path, and its export."""
    root = tmp_path_factory.mktemp("cluster")
    reference = FrozenEncoder.from_config(EncoderConfig(name="vit_tiny", img_size=64, init_seed=7))
    weights = root / "pretrained" / "vit_tiny.pt"
    weights.parent.mkdir()
    torch.save({"target_encoder": reference.encoder.state_dict()}, weights)
    cfg = tiny_config(root / "run", synth_dataset.shard_urls, **{
        "encoder.checkpoint": str(weights), "schedule.total_steps": 4, "validation.every": 0})
    train(cfg, single_process=True)
    export_run(root / "run", root / "export", "latest")
    return root, weights, reference(FRAMES)


def test_moved_export_pointed_at_a_moved_encoder(cluster, synth_dataset, tmp_path, capsys):
    root, weights, want = cluster
    export = tmp_path / "laptop" / "export"
    shutil.copytree(root / "export", export)
    moved = tmp_path / "laptop" / "weights" / "encoder.pt"
    moved.parent.mkdir()
    shutil.copy(weights, moved)
    recorded = json.loads((export / META_FILE).read_text())["encoder"]["checkpoint"]
    assert recorded == str(weights)  # the cluster's path, which this machine is taken not to have
    meta = json.loads((export / META_FILE).read_text())
    meta["encoder"]["checkpoint"] = str(tmp_path / "gone" / "vit_tiny.pt")
    (export / META_FILE).write_text(json.dumps(meta))

    with pytest.raises(FileNotFoundError, match="encoder_checkpoint=PATH"):
        load_run(export)
    model = WorldModel.from_pretrained(export, encoder_checkpoint=moved)
    assert torch.equal(model.run.latents(FRAMES), _layer_norm(want))

    shard, key = synth_dataset.shard_urls[0], synth_dataset.stems[0]
    plan = ["plan", str(export), "--clip", f"{shard}:{key}:0:2", "--samples", "8", "--iterations", "1", "--json"]
    assert main(plan) == 2 and "--encoder-checkpoint" in capsys.readouterr().err
    assert main(plan + ["--encoder-checkpoint", str(moved)]) == 0
    assert len(json.loads(capsys.readouterr().out)["steps"]) == 2


def test_export_holding_its_encoder_moves_as_one_folder(cluster, tmp_path):
    root, weights, want = cluster
    out = tmp_path / "bundle"
    out.mkdir()
    shutil.copy(weights, out / "encoder.pt")
    export_run(root / "run", out, "latest", encoder_checkpoint=out / "encoder.pt")
    assert json.loads((out / META_FILE).read_text())["encoder"]["checkpoint"] == "encoder.pt"
    elsewhere = tmp_path / "elsewhere" / "bundle"
    shutil.move(str(out), elsewhere)
    model = WorldModel.from_pretrained(elsewhere)
    assert model.run.encoder.weights_source.startswith("encoder weights: " + str(elsewhere / "encoder.pt"))
    assert torch.equal(model.run.latents(FRAMES), _layer_norm(want))


def _layer_norm(tokens: torch.Tensor) -> torch.Tensor:
    from craft_jepa.encoders import normalize_targets

    return normalize_targets(tokens)
