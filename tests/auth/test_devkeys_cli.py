"""Development keys and `fhirip token`: private keys stay private, minted tokens verify, settings fall back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from fhirip.auth.cli import main
from fhirip.auth.devkeys import DEV_AUDIENCE, DEV_ISSUER, KEY_FILES, DevKeys, jwk_thumbprint
from fhirip.auth.tokens import AuthConfigError, AuthSettings, TokenVerifier


def test_private_keys_are_readable_by_the_owner_only(dev_keys: DevKeys) -> None:
    for filename in KEY_FILES.values():
        assert stat.S_IMODE((dev_keys.directory / filename).stat().st_mode) == 0o600


def test_keys_are_generated_once_and_then_reused(tmp_path: Path) -> None:
    first = DevKeys.load_or_create(tmp_path)
    second = DevKeys.load_or_create(tmp_path)
    assert first.kids == second.kids
    assert first.jwks_path == tmp_path / "keys" / "jwks.json"


def test_jwks_holds_public_keys_only(dev_keys: DevKeys) -> None:
    text = dev_keys.jwks_path.read_text()
    assert '"d"' not in text and "PRIVATE" not in text


def test_kid_is_the_rfc7638_thumbprint() -> None:
    # The example key of RFC 7638 §3.1 and its published thumbprint.
    jwk = {"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
           "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRX"
                "jBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8"
                "KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xB"
                "niIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_token_command_prints_a_token_the_dev_settings_accept(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "--practitioner", "9144900", "--org", "974589095",
                 "--purpose", "ETREAT", "--reason", "Akutt", "--alg", "ES256", "--scope", "user/*.rs"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=tmp_path))
    actor = verifier.authenticate(f"Bearer {token}")
    assert actor.hpr_number == "9144900" and actor.break_the_glass
    assert actor.scope_allows("CarePlan", "read") and not actor.scope_allows("CarePlan", "update")


def test_token_command_for_a_person_and_a_system(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    verifier = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=tmp_path))
    assert main(["--data-dir", str(tmp_path), "--person", "15076500565"]) == 0
    person = verifier.authenticate("Bearer " + capsys.readouterr().out.strip())
    assert person.person_id == "15076500565" and person.scope_allows("CarePlan", "read")
    assert main(["--data-dir", str(tmp_path), "--system", "--lifetime", "60"]) == 0
    system = verifier.authenticate("Bearer " + capsys.readouterr().out.strip())
    assert system.kind.value == "system" and system.scope_allows("CarePlan", "search")


@pytest.mark.parametrize("argv", [
    [],
    ["--data-dir", "D", "--practitioner", "12ab"],
    ["--data-dir", "D", "--person", "123"],
    ["--data-dir", "D", "--practitioner", "1", "--person", "15076500565"],
    ["--data-dir", "D", "--system", "--org", "1234"],
    ["--data-dir", "D", "--system", "--lifetime", "0"],
    ["--data-dir", "D", "--system", "--purpose", "SHOP"],
    ["--data-dir", "D", "--practitioner", "1", "--reason", "why"],
])
def test_token_command_refuses_bad_arguments(argv: list[str], tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(tmp_path) if arg == "D" else arg for arg in argv]
    assert main(argv) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "keys").exists()


def test_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = AuthSettings.from_env({"FHIRIP_JWKS": "https://idp.example/jwks", "FHIRIP_ISSUER": "https://idp",
                                      "FHIRIP_AUDIENCE": "https://fhir", "FHIRIP_CLOCK_SKEW": "10"})
    # With a real issuer, a health professional's token must carry the trust-framework attestation.
    assert settings == AuthSettings("https://idp.example/jwks", "https://idp", "https://fhir", 10.0,
                                    require_attestation=True)


def test_missing_settings_outside_development_mode_are_a_configuration_error() -> None:
    with pytest.raises(AuthConfigError, match="FHIRIP_JWKS, FHIRIP_ISSUER, FHIRIP_AUDIENCE"):
        AuthSettings.from_env({})
    with pytest.raises(AuthConfigError, match="FHIRIP_CLOCK_SKEW"):
        AuthSettings.from_env({"FHIRIP_CLOCK_SKEW": "soon"})


def test_development_mode_falls_back_to_the_dev_keys(tmp_path: Path) -> None:
    settings = AuthSettings.from_env({}, dev_data_dir=tmp_path)
    assert (settings.issuer, settings.audience) == (DEV_ISSUER, DEV_AUDIENCE)
    assert Path(settings.jwks) == tmp_path / "keys" / "jwks.json"
    explicit = AuthSettings.from_env({"FHIRIP_JWKS": "/etc/jwks.json", "FHIRIP_ISSUER": "a",
                                      "FHIRIP_AUDIENCE": "b"}, dev_data_dir=tmp_path)
    assert explicit.jwks == "/etc/jwks.json"


@pytest.mark.parametrize("from_env", [False, True], ids=["./data", "FHIRIP_DATA_DIR"])
def test_token_defaults_its_data_directory_as_the_other_commands_do(tmp_path: Path, monkeypatch, capsys,
                                                                    from_env: bool) -> None:
    from fhirip.cli import main as fhirip_main

    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "elsewhere" if from_env else tmp_path / "data"
    if from_env:
        monkeypatch.setenv("FHIRIP_DATA_DIR", str(data_dir))
    else:
        monkeypatch.delenv("FHIRIP_DATA_DIR", raising=False)
    assert fhirip_main(["token", "--system"]) == 0
    token = capsys.readouterr().out.strip()
    verifier = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=data_dir))
    assert verifier.authenticate(f"Bearer {token}").kind.value == "system"


def test_token_command_mints_a_dpop_bound_token_and_a_matching_proof(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fhirip.auth.dpop import ProofVerifier, bound_key

    key_file = tmp_path / "client" / "dpop.pem"
    assert main(["--data-dir", str(tmp_path), "--practitioner", "9144889", "--dpop-key", str(key_file)]) == 0
    token = capsys.readouterr().out.strip()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    verifier = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=tmp_path))
    jkt = bound_key(verifier.verify(token))
    assert jkt is not None
    url = "https://fhir.example.no/ip/Patient/demo-kari"
    assert main(["proof", "--method", "get", "--url", url + "?_pretty=true", "--key", str(key_file),
                 "--token", token]) == 0
    proof = capsys.readouterr().out.strip()
    seen: list[str] = []
    proofs = ProofVerifier(lambda key, _until: key not in seen and not seen.append(key))
    proofs.verify([proof], method="GET", url=url, access_token=token, jkt=jkt)
    with pytest.raises(Exception, match="used before"):
        proofs.verify([proof], method="GET", url=url, access_token=token, jkt=jkt)


def test_dpop_settings_come_from_the_environment(tmp_path: Path) -> None:
    settings = AuthSettings.from_env({"FHIRIP_REQUIRE_DPOP": "true", "FHIRIP_DPOP_WINDOW": "30"},
                                     dev_data_dir=tmp_path)
    assert settings.require_dpop and settings.dpop_window_seconds == 30
    assert not AuthSettings.from_env({}, dev_data_dir=tmp_path).require_dpop
    for bad in ({"FHIRIP_REQUIRE_DPOP": "maybe"}, {"FHIRIP_DPOP_WINDOW": "0"}, {"FHIRIP_DPOP_WINDOW": "x"}):
        with pytest.raises(AuthConfigError):
            AuthSettings.from_env(bad, dev_data_dir=tmp_path)


def test_token_command_issues_the_trust_framework_attestation(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    from fhirip.auth.actor import Actor

    assert main(["--data-dir", str(tmp_path), "--practitioner", "9144889", "--attest", "--pid", "13116900216",
                 "--org", "974589095", "--purpose", "BTG", "--user-selected", "--decision-ref", "akutt-1"]) == 0
    token = capsys.readouterr().out.strip()
    claims = TokenVerifier(AuthSettings.from_env({}, dev_data_dir=tmp_path)).verify(token)
    actor = Actor.from_claims(claims, require_attestation=True)
    assert actor.purpose_of_use == "BTG" and actor.break_the_glass and actor.attestation.user_selected
    assert "purpose_of_use" not in claims
    assert main(["--data-dir", str(tmp_path), "--practitioner", "9144889", "--attest", "--purpose", "TREAT"]) == 2
    assert "--pid, --org" in capsys.readouterr().err


def test_helseid_settings_come_from_the_environment() -> None:
    settings = AuthSettings.from_env({"FHIRIP_JWKS": "https://helseid-sts.nhn.no/.well-known/openid-configuration/jwks",
                                      "FHIRIP_ISSUER": "https://helseid-sts.nhn.no", "FHIRIP_AUDIENCE": "nhn:fhirip",
                                      "FHIRIP_SCOPE_PREFIX": "nhn:fhirip/", "FHIRIP_REQUIRE_DPOP": "true",
                                      "FHIRIP_CLOCK_SKEW": "5"})
    assert (settings.audience, settings.scope_prefix, settings.require_dpop, settings.require_attestation,
            settings.clock_skew_seconds) == ("nhn:fhirip", "nhn:fhirip/", True, True, 5.0)
