"""`fhirip token`: mint a development access token signed with the local dev key, and
`fhirip token proof`: sign a DPoP proof for one request with the client's DPoP key."""

from __future__ import annotations

import argparse
import re
import sys

from fhirip.auth.devkeys import (
    DEFAULT_LIFETIME_SECONDS,
    MAX_LIFETIME_SECONDS,
    DevKeys,
    attested_claims,
    dpop_confirmation,
    dpop_proof,
    load_or_create_dpop_key,
    person_claims,
)
from fhirip.config import Settings

PURPOSES = ("TREAT", "ETREAT", "BTG", "COC")


def _digits(count: str, what: str):
    pattern = re.compile(rf"^[0-9]{{{count}}}$")

    def check(text: str) -> str:
        if not pattern.match(text):
            raise argparse.ArgumentTypeError(f"{what} must be {count.replace(',', '-')} digits, got {text!r}")
        return text

    return check


def _lifetime(text: str) -> int:
    try:
        seconds = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"lifetime must be whole seconds, got {text!r}") from None
    if not 0 < seconds <= MAX_LIFETIME_SECONDS:
        raise argparse.ArgumentTypeError(f"lifetime must be between 1 and {MAX_LIFETIME_SECONDS} seconds")
    return seconds


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhirip token",
        description="Print a development bearer token signed with the key in <data-dir>/keys/ "
                    "(generated on first use). Only a server in development mode trusts it.")
    parser.add_argument("--data-dir", default=Settings.from_env().data_dir,
                        help="the server's data directory ($FHIRIP_DATA_DIR, else ./data; default %(default)s)")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--practitioner", metavar="HPR", type=_digits("1,10", "an HPR number"),
                     help="act as the health professional with this HPR number")
    who.add_argument("--person", metavar="FNR", type=_digits("11", "a fødselsnummer"),
                     help="act as the citizen with this fødselsnummer (patient or relative)")
    who.add_argument("--system", action="store_true", help="act as a backend client, no person")
    parser.add_argument("--org", metavar="ORGNR", type=_digits("9", "an organisation number"),
                        help="organisation number of the legal entity acting")
    parser.add_argument("--scope", help="SMART scopes, space-separated (default by kind of actor)")
    parser.add_argument("--purpose", choices=PURPOSES, help="purpose of use (ETREAT or BTG with --reason "
                                                            "breaks the glass)")
    parser.add_argument("--reason", help="the stated reason for break-the-glass")
    parser.add_argument("--name", help="display name of the person")
    parser.add_argument("--lifetime", type=_lifetime, default=DEFAULT_LIFETIME_SECONDS,
                        help=f"seconds until the token expires (default {DEFAULT_LIFETIME_SECONDS})")
    parser.add_argument("--alg", choices=("RS256", "ES256"), default="RS256")
    attest = parser.add_argument_group(
        "trust-framework attestation", "with --attest, a practitioner's token carries the attestation as "
        "HelseID issues it (authorization_details nhn:tillitsrammeverk:parameters) instead of the "
        "development shorthand (top-level purpose_of_use and btg_reason claims)")
    attest.add_argument("--attest", action="store_true", help="issue the attestation (needs --practitioner, "
                                                              "--pid, --org and --purpose)")
    attest.add_argument("--pid", metavar="FNR", type=_digits("11", "a fødselsnummer"),
                        help="the practitioner's own fødselsnummer or D-nummer")
    attest.add_argument("--point-of-care", metavar="ORGNR", type=_digits("9", "an organisation number"),
                        help="organisation number of the point of care (default: --org)")
    attest.add_argument("--decision-ref", default="dev-decision-1", help="the local access decision's id")
    attest.add_argument("--user-selected", action="store_true",
                        help="the practitioner chose the access decision (self-authorisation)")
    parser.add_argument("--dpop-key", metavar="FILE",
                        help="bind the token to this DPoP key (a PEM private key; a P-256 key is created "
                             "there if the file does not exist): send it as 'Authorization: DPoP' with a "
                             "proof from 'fhirip token proof'")
    return parser


def build_proof_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fhirip token proof",
        description="Print a DPoP proof (RFC 9449) for one request, signed with the client's DPoP key; "
                    "send it in the DPoP header. A proof is good once, for a short while.")
    parser.add_argument("--method", required=True, help="the request method, e.g. GET")
    parser.add_argument("--url", required=True, help="the request URL (query and fragment are ignored)")
    parser.add_argument("--key", required=True, metavar="FILE", help="the DPoP key the token is bound to")
    parser.add_argument("--token", help="the access token the proof goes with (sets ath)")
    return parser


def proof_main(argv: list[str]) -> int:
    parser = build_proof_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        key = load_or_create_dpop_key(args.key)
    except (OSError, ValueError) as error:
        print(f"fhirip token proof: error: {args.key}: {error}", file=sys.stderr)
        return 2
    # htu is the URI without query and fragment (RFC 9449 §4.2).
    url = args.url.split("#", 1)[0].split("?", 1)[0]
    print(dpop_proof(key, method=args.method, url=url, access_token=args.token))
    return 0


def main(argv: list[str]) -> int:
    """Entry point for the subcommand; argv is what follows `fhirip token`."""
    if argv[:1] == ["proof"]:
        return proof_main(argv[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.reason and args.purpose not in ("ETREAT", "BTG"):
        parser.print_usage(sys.stderr)
        print("fhirip token: error: --reason belongs with --purpose ETREAT or BTG", file=sys.stderr)
        return 2
    if args.attest:
        missing = [flag for flag, value in (("--practitioner", args.practitioner), ("--pid", args.pid),
                                            ("--org", args.org), ("--purpose", args.purpose)) if not value]
        if missing or args.reason:
            parser.print_usage(sys.stderr)
            problem = f"needs {', '.join(missing)}" if missing else "takes no --reason (the attestation is the reason)"
            print(f"fhirip token: error: --attest {problem}", file=sys.stderr)
            return 2
        claims = attested_claims(hpr=args.practitioner, pid=args.pid, org=args.org, purpose=args.purpose,
                                 point_of_care=args.point_of_care, decision_ref=args.decision_ref,
                                 user_selected=args.user_selected, name=args.name,
                                 scope=args.scope or "openid user/*.cruds")
    else:
        claims = person_claims(practitioner=args.practitioner, person=args.person, org=args.org,
                               scope=args.scope, purpose=args.purpose, reason=args.reason, name=args.name)
    if args.dpop_key:
        try:
            claims["cnf"] = dpop_confirmation(load_or_create_dpop_key(args.dpop_key))
        except (OSError, ValueError) as error:
            print(f"fhirip token: error: {args.dpop_key}: {error}", file=sys.stderr)
            return 2
    keys = DevKeys.load_or_create(args.data_dir)
    print(keys.mint(claims, lifetime=args.lifetime, alg=args.alg))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
