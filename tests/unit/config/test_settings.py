from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import Destination, SettingsError, load_settings


def test_embedded_defaults_need_no_file() -> None:
    s = load_settings(env={})
    assert s.ae_title == "FACENODE"
    assert s.port == 11112
    assert s.stable_age_s == 10.0
    assert s.db_url.startswith("sqlite:///") and s.db_url.endswith("var/facenode.db")
    assert s.models_dir == Path("var") / "models"
    assert s.destinations == ()


def test_toml_then_environment_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text(
        'ae_title = "CLINIC"\nport = 2000\nstable_age_s = 3\n'
        '[[destinations]]\nname = "PACS"\nae_title = "ORTHANC"\nhost = "10.0.0.5"\nport = 4242\n'
    )
    s = load_settings(cfg, env={"FACENODE_PORT": "3000", "FACENODE_WORKERS": "4"})
    assert (s.ae_title, s.port, s.workers, s.stable_age_s) == ("CLINIC", 3000, 4, 3.0)
    assert s.destinations == (Destination(name="PACS", ae_title="ORTHANC", host="10.0.0.5", port=4242),)
    assert s.destination("PACS").port == 4242


def test_environment_lists() -> None:
    s = load_settings(env={
        "FACENODE_DESTINATIONS": "PACS=ORTHANC@127.0.0.1:4242; ARCH=ARCHIVE@h:104",
        "FACENODE_ACCEPTED_CALLING_AE_TITLES": "ORTHANC, MODALITY",
    })
    assert [d.name for d in s.destinations] == ["PACS", "ARCH"]
    assert s.accepted_calling_ae_titles == ("ORTHANC", "MODALITY")


def test_config_file_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text('ae_title = "FROMFILE"\n')
    assert load_settings(env={"FACENODE_CONFIG": str(cfg)}).ae_title == "FROMFILE"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FACENODE_PORT": "70000"}, "port"),
        ({"FACENODE_AE_TITLE": "A" * 17}, "AE title must be 1-16"),
        ({"FACENODE_STABLE_AGE_S": "0"}, "stable_age_s"),
        ({"FACENODE_ANALYSIS_BACKEND": "magic"}, "analysis_backend must be one of"),
        ({"FACENODE_DESTINATIONS": "PACS=ORTHANC@host"}, "NAME=AE_TITLE@host:port"),
        ({"FACENODE_DESTINATIONS": "A=X@h:1;A=Y@h:2"}, "unique"),
        ({"FACENODE_NO_SUCH_KEY": "1"}, "unknown environment variable FACENODE_NO_SUCH_KEY"),
    ],
)
def test_invalid_values_are_named(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert expected in str(err.value)


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('port = "x"\nworkers = 0\ncolour = "blue"\n')
    with pytest.raises(SettingsError) as err:
        load_settings(cfg, env={})
    msg = str(err.value)
    assert str(cfg) in msg
    for key in ("port", "workers", "colour"):
        assert f"- {key}:" in msg


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_text("port = = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, env={})


def test_unknown_destination_lists_known() -> None:
    s = load_settings(env={"FACENODE_DESTINATIONS": "PACS=O@h:1"})
    with pytest.raises(SettingsError, match="known: PACS"):
        s.destination("OTHER")


def test_example_file_is_valid_and_complete() -> None:
    example = Path(__file__).resolve().parents[3] / "config" / "facenode.example.toml"
    s = load_settings(example, env={})
    text = example.read_text()
    from config.settings import Settings

    for key in Settings.model_fields:
        assert key in text, f"{key} is not documented in the example configuration"
    assert s.ae_title == "FACENODE"


def test_analysis_backend_names_are_the_registrys() -> None:
    """config cannot import analysis, so it keeps a copy of the backend names; this keeps
    the copy equal to analysis.landmarks.registry, in the same order."""
    from analysis.landmarks.registry import NAMES
    from config.settings import ANALYSIS_BACKENDS

    assert ANALYSIS_BACKENDS == NAMES


@pytest.mark.parametrize("name", ["insightface68", "ensemble", "fan3d"])
def test_every_registered_backend_is_a_valid_setting(name: str) -> None:
    assert load_settings(env={"FACENODE_ANALYSIS_BACKEND": name}).analysis_backend == name


def test_the_test_data_folder_variable_is_not_a_setting() -> None:
    s = load_settings(env={"FACENODE_SHARED_DATA": "/elsewhere", "FACENODE_PORT": "11113"})
    assert s.port == 11113
