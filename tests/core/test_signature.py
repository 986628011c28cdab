"""The signature algorithm against the reference's test vectors (sailthru-api.md §1)."""

import json

from runner.signature import sign, signature_string, verify


def test_flat_values_vector():
    assert signature_string("secret", ["one", "two", "three"]) == "secretonethreetwo"
    assert sign("secret", ["one", "two", "three"]) == "764794f03e1e345c32d4c81aae2815eb"


def test_nested_values_vector():
    params = {"a": ["test1", "test2"], "b": {"c": "test3"}}
    assert sign("password", params) == "adde49d639598daa7ba79af7c2fff8f9"


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
