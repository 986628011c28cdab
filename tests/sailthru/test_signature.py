"""Our signature equals the official client's, on generated payloads and the reference vectors."""

from __future__ import annotations

import json
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.sailthru.signature import sign
from runner.sailthru.wire import serialize_payload, signed_params

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from sailthru.sailthru_client import get_signature_hash

leaves = (
    st.text()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
nested = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
secrets = st.text(min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(params=st.dictionaries(st.text(max_size=10), nested, max_size=6), secret=secrets)
def test_sign_matches_the_official_client_on_nested_params(params, secret) -> None:
    assert sign(secret, params) == get_signature_hash(params, secret)


@settings(max_examples=100, deadline=None)
@given(payload=st.dictionaries(st.text(max_size=10), nested, max_size=6), secret=secrets)
def test_signed_params_sign_the_exact_json_string(payload, secret) -> None:
    params = signed_params("api-key", secret, payload)
    raw = params.pop("sig")
    assert json.loads(params["json"]) == json.loads(serialize_payload(payload))
    assert raw == get_signature_hash(params, secret)


@pytest.mark.parametrize(
    ("params", "secret", "expected"),
    [
        (["one", "two", "three"], "secret", "764794f03e1e345c32d4c81aae2815eb"),
        (
            {"a": ["test1", "test2"], "b": {"c": "test3"}},
            "password",
            "adde49d639598daa7ba79af7c2fff8f9",
        ),
        (
            {
                "api_key": "0123456789abcdef",
                "format": "json",
                "json": '{"job_id": "635a04fa1628f53d490220d7"}',
            },
            "s3cr3t",
            "af2433014d2bdf03218e9c5706f2c966",
        ),
    ],
)
def test_reference_vectors(params, secret, expected) -> None:
    assert sign(secret, params) == expected == get_signature_hash(params, secret)


def test_null_payload_is_sent_as_json_null() -> None:
    assert signed_params("k", "s", None)["json"] == "null"
