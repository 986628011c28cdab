"""The one masking helper: registered secrets and sig values never survive into text."""

import logging

from runner.masking import (
    MASK,
    MaskingFilter,
    mask,
    mask_data,
    redact_url,
    register_secret,
    register_url,
)


def test_registered_secret_is_masked_everywhere_in_text():
    register_secret("hunter2-very-secret")
    assert (
        mask("key=hunter2-very-secret and again hunter2-very-secret")
        == f"key={MASK} and again {MASK}"
    )


def test_short_values_are_not_registered():
    register_secret("abc")
    assert mask("abc") == "abc"


def test_longer_secret_containing_a_shorter_one_is_masked_whole():
    register_secret("token")
    register_secret("token-extended")
    assert mask("token-extended") == MASK


def test_sig_values_are_masked_without_registration():
    text = "GET /job?api_key=k&sig=764794f03e1e345c32d4c81aae2815eb"
    assert mask(text) == f"GET /job?api_key=k&sig={MASK}"


def test_export_url_and_its_path_are_masked():
    url = "https://s3.amazonaws.com/sailthru/export/2016/12/07/d699e4bd562eec65a1e0c2f47b111111"
    register_url(url)
    assert mask(f"got {url}") == f"got {MASK}"
    assert "d699e4bd" not in mask("/sailthru/export/2016/12/07/d699e4bd562eec65a1e0c2f47b111111")


def test_mask_data_walks_nested_structures():
    register_secret("s3cr3t-value")
    data = {"a": ["x", {"b": "s3cr3t-value"}], "n": 3}
    assert mask_data(data) == {"a": ["x", {"b": MASK}], "n": 3}


def test_redact_url_keeps_only_scheme_and_host():
    assert (
        redact_url("https://hooks.slack.com/services/T0/B0/XYZ")
        == f"https://hooks.slack.com/{MASK}"
    )
    assert redact_url("not a url") == MASK


def test_logging_filter_masks_formatted_records():
    register_secret("p4ssw0rd-xyz")
    record = logging.LogRecord(
        "sailjobs.x", logging.INFO, __file__, 1, "secret is %s", ("p4ssw0rd-xyz",), None
    )
    assert MaskingFilter().filter(record)
    assert record.getMessage() == f"secret is {MASK}"
