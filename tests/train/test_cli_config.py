from __future__ import annotations

import pytest
from click.testing import CliRunner

from rossam_geo.errors import InputError
from rossam_geo.train.config import TrainConfig


def test_defaults_are_the_papers():
    config = TrainConfig(data="d.json", output_dir="out")
    assert config.epochs == 24 and config.lr == 1e-3
    assert (config.lsj_min_scale, config.lsj_max_scale) == (0.1, 4.0)
    assert config.rotation and config.model == "vit_l" and config.base_weights == "sam_hq_vit_l"
    assert config.exclude_classes == ("car",)
    assert config.iou_loss_weight == 1.0  # not the paper's: it trains the IoU head as SAM does
    assert config.use_grad_checkpointing
    assert not TrainConfig(data="d", output_dir="o", model="vit_b").use_grad_checkpointing


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "vit_x"}, "model must be one of vit_b, vit_l, vit_h, tiny; got 'vit_x'"),
        ({"epochs": 0}, "epochs must be >= 1, got 0"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"lsj_min_scale": 2.0, "lsj_max_scale": 1.0}, "lsj_min_scale <= lsj_max_scale"),
        ({"precision": "8-bit"}, "precision must be one of"),
        ({"box_noise": 1.5}, "fraction of box size"),
        (
            {"iou_loss_weight": -1.0},
            r"iou_loss_weight must be >= 0 \(0 leaves the IoU head untrained\), got -1.0",
        ),
    ],
)
def test_invalid_options_are_rejected_with_the_value(options, message):
    with pytest.raises(InputError, match=message):
        TrainConfig(data="d", output_dir="o", **options)


def test_from_options_rejects_unknown_names():
    with pytest.raises(InputError, match=r"unknown training option\(s\) \['epoch'\]"):
        TrainConfig.from_options(data="d", output_dir="o", epoch=3)
    config = TrainConfig.from_options(data="d", output_dir="o", classes=["ship"], lr=None)
    assert config.classes == ("ship",) and config.lr == 1e-3


@pytest.fixture()
def captured(monkeypatch):
    """Replace the training run by a recorder of the config it receives."""
    from rossam_geo.train import loop

    seen: list[TrainConfig] = []

    def fake_train(config: TrainConfig):
        seen.append(config)
        return loop.TrainResult(
            history=[],
            output_dir=config.output_path,
            last_adapter=config.output_path,
            best_adapter=None,
            best_val_iou=float("nan"),
        )

    monkeypatch.setattr(loop, "train", fake_train)
    return seen


def test_toml_config_fills_options_and_command_line_wins(tmp_path, captured):
    from rossam_geo.cli.train import train

    (tmp_path / "data.json").write_text("{}")
    toml = tmp_path / "run.toml"
    toml.write_text(
        'data = "data.json"\noutput-dir = "runs/a"\nmodel = "tiny"\nepochs = 3\nlr = 0.01\n'
        'exclude_classes = ["car", "truck"]\nrotation = false\nbase_weights = ""\n'
    )
    result = CliRunner().invoke(train, ["--config", str(toml), "--epochs", "5", "--iou-loss-weight", "0"])
    assert result.exit_code == 0, result.output
    config = captured[0]
    assert config.epochs == 5  # command line beats the file
    assert config.iou_loss_weight == 0.0
    assert config.lr == 0.01 and config.model == "tiny" and not config.rotation
    assert config.exclude_classes == ("car", "truck")
    assert config.data == str(tmp_path / "data.json")  # relative to the config file
    assert config.output_dir == str(tmp_path / "runs" / "a")
    assert config.base_weights == ""


def test_example_config_parses(captured):
    from pathlib import Path

    from rossam_geo.cli.train import train

    example = Path(__file__).resolve().parents[2] / "examples" / "train_tiny.toml"
    if not (example.parent / "../../shared/data/isaid_vehicles/annotations.json").is_file():
        pytest.skip("the example trains on ../shared/data/isaid_vehicles, which is absent here")
    result = CliRunner().invoke(train, ["--config", str(example)])
    assert result.exit_code == 0, result.output
    assert captured[0].model == "tiny"


def test_bad_config_keys_and_values_are_reported(tmp_path, captured):
    from rossam_geo.cli.train import train

    toml = tmp_path / "bad.toml"
    toml.write_text('data = "d.json"\noutput_dir = "o"\nepoch = 3\n')
    result = CliRunner().invoke(train, ["--config", str(toml)])
    assert result.exit_code != 0 and "unknown key(s) ['epoch']" in result.output
    result = CliRunner().invoke(train, ["--data", "d.json", "-o", str(tmp_path / "o"), "--epochs", "0"])
    assert result.exit_code != 0 and "epochs must be >= 1, got 0" in result.output
    result = CliRunner().invoke(train, ["--config", str(tmp_path / "missing.toml")])
    assert result.exit_code != 0 and "does not exist" in result.output
    assert captured == []
