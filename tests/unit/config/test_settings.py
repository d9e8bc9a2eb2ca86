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


def test_network_security_defaults() -> None:
    s = load_settings(env={})
    assert (s.acse_timeout_s, s.dimse_timeout_s, s.network_timeout_s, s.connection_timeout_s) \
        == (10.0, 60.0, 30.0, 10.0)
    assert (s.max_associations, s.max_associations_per_peer) == (32, 8)
    assert s.tls_port == 0 and s.tls_cert_file is None and not s.tls_require_client_cert
    assert s.accepted_peer_networks == ()


def test_peer_networks_and_tls_destinations_from_environment() -> None:
    s = load_settings(env={
        "FACENODE_ACCEPTED_PEER_NETWORKS": "10.0.0.0/8, 192.168.1.20, fd00::/8",
        "FACENODE_DESTINATIONS": "PACS=ORTHANC@pacs.example:2762+tls;ARCH=ARCH@h:104",
    })
    assert s.accepted_peer_networks == ("10.0.0.0/8", "192.168.1.20/32", "fd00::/8")
    assert [(d.name, d.port, d.tls) for d in s.destinations] == [
        ("PACS", 2762, True), ("ARCH", 104, False)]


def test_tls_listener_settings(tmp_path: Path) -> None:
    cfg = tmp_path / "f.toml"
    cfg.write_text('port = 0\ntls_port = 2762\ntls_cert_file = "node.crt"\n'
                   'tls_key_file = "node.key"\ntls_ca_file = "ca.crt"\n'
                   'tls_require_client_cert = true\n'
                   '[[destinations]]\nname = "PACS"\nae_title = "PACS"\nhost = "10.0.0.5"\n'
                   'port = 2762\ntls = true\ntls_ca_file = "pacs-ca.crt"\n')
    s = load_settings(cfg, env={})
    assert (s.port, s.tls_port, s.tls_require_client_cert) == (0, 2762, True)
    assert s.destinations[0].tls and s.destinations[0].tls_ca_file == Path("pacs-ca.crt")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"FACENODE_ACCEPTED_PEER_NETWORKS": "10.0.0.0/33"}, "accepted_peer_networks entries"),
        ({"FACENODE_PORT": "0"}, "both 0"),
        ({"FACENODE_TLS_PORT": "11112"}, "port and tls_port must differ"),
        ({"FACENODE_TLS_PORT": "2762"}, "tls_port needs tls_cert_file and tls_key_file"),
        ({"FACENODE_TLS_CERT_FILE": "a.crt"}, "tls_cert_file and tls_key_file go together"),
        ({"FACENODE_TLS_REQUIRE_CLIENT_CERT": "true"}, "tls_require_client_cert needs"),
        ({"FACENODE_MAX_ASSOCIATIONS": "4"}, "max_associations_per_peer must not exceed"),
        ({"FACENODE_ACSE_TIMEOUT_S": "0"}, "acse_timeout_s"),
        ({"FACENODE_DESTINATIONS": "P=A@h:1+ssl"}, "+tls at the end"),
    ],
)
def test_invalid_network_settings_are_named(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env=env)
    assert expected in str(err.value)
