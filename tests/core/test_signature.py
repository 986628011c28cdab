"""The signature is computed over the raw strings as sent (the reference vectors themselves are
checked against the official client in tests/sailthru/test_signature.py)."""

import json

from runner.sailthru.signature import sign, verify


def test_request_vector_signs_the_json_string_as_sent():
    params = {
        "api_key": "0123456789abcdef",
        "format": "json",
        "json": json.dumps({"job_id": "635a04fa1628f53d490220d7"}),
    }
    assert sign("s3cr3t", params) == "af2433014d2bdf03218e9c5706f2c966"
    # A compact serialization of the same payload is a different string, so a different sig:
    # a server must verify over the raw received text.
    compact = dict(
        params, json=json.dumps({"job_id": "635a04fa1628f53d490220d7"}, separators=(",", ":"))
    )
    assert sign("s3cr3t", compact) != "af2433014d2bdf03218e9c5706f2c966"


def test_verify_accepts_upper_case_and_rejects_wrong_secret():
    params = {"api_key": "k", "format": "json", "json": "{}"}
    good = sign("s", params)
    assert verify("s", params, good.upper())
    assert not verify("other", params, good)
