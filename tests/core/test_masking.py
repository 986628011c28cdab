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


# --- a secret's distinctive parts (issue 13, item 5) -----------------------------------------

WEBHOOK = "https://bot:pa55-w0rd@hooks.example.com/v1/services/T0123ABCD/aB3dE6gH9jK2mN5pQ8?token=zX9yW8vU7tS6&x=1"


def test_a_secret_url_masks_its_path_segments_query_values_and_userinfo():
    register_secret(WEBHOOK)
    # What requests puts in a ConnectionError: the path and query, without scheme and host.
    quoted = (
        "HTTPSConnectionPool(host='hooks.example.com', port=443): Max retries exceeded with "
        "url: /v1/services/T0123ABCD/aB3dE6gH9jK2mN5pQ8?token=zX9yW8vU7tS6&x=1"
    )
    masked = mask(quoted)
    for part in ("T0123ABCD", "aB3dE6gH9jK2mN5pQ8", "zX9yW8vU7tS6"):
        assert part not in masked
    assert "hooks.example.com" in masked  # the host says where, and is no secret
    for alone in ("segment T0123ABCD", "token aB3dE6gH9jK2mN5pQ8", "q=zX9yW8vU7tS6", "pa55-w0rd"):
        assert mask(alone).endswith(MASK), alone
    assert mask("bot:pa55-w0rd@") == f"{MASK}@"


def test_a_bare_query_token_is_masked():
    register_secret("https://feeds.example.com/export?Qw3rTy7uI9oP1aS2")
    assert mask("GET ?Qw3rTy7uI9oP1aS2 failed") == f"GET ?{MASK} failed"


def test_ordinary_parts_of_a_secret_url_stay_readable():
    register_secret(WEBHOOK)
    assert mask("GET /v1/services answered 404") == "GET /v1/services answered 404"


def test_trimmed_and_case_changed_forms_are_masked():
    register_secret("  Hunter2-Very-Secret \n")
    for form in ("Hunter2-Very-Secret", "HUNTER2-VERY-SECRET", "hunter2-very-secret"):
        assert mask(f"value {form}!") == f"value {MASK}!", form


def test_the_slug_of_a_secret_is_masked():
    register_secret("My Secret Value 42")
    assert mask("list my-secret-value-42") == f"list {MASK}"


def test_secret_names():
    from runner.masking import is_secret_name

    for name in ("SAILTHRU_API_KEY", "SAILTHRU_API_SECRET", "GITHUB_TOKEN", "db_password"):
        assert is_secret_name(name), name
    for name in ("SLACK_WEBHOOK_URL", "AWS_SECRET_ACCESS_KEY", "api_key"):
        assert is_secret_name(name), name
    for name in ("LIST_NAME", "HOME", "REPORT_TO", "POSTBACK_URL"):
        assert not is_secret_name(name), name
    assert is_secret_name("POSTBACK_URL", listed=["POSTBACK_URL"])


def test_register_env_secrets_takes_only_secret_names():
    from runner.masking import register_env_secrets

    register_env_secrets(
        {"DEPLOY_TOKEN": "tok-123456", "LIST_NAME": "Main Newsletter", "HOOK": "h00k-url-xyz"},
        listed=["HOOK"],
    )
    assert mask("tok-123456 Main Newsletter h00k-url-xyz") == f"{MASK} Main Newsletter {MASK}"


def test_flag_values_of_secret_names_are_not_secrets():
    from runner.masking import register_env_secrets

    register_env_secrets({"PIP_USE_KEYRING": "true", "NO_TOKEN_CHECK": "False"})
    assert mask("continue_on_error: true, fail_fast: false") == (
        "continue_on_error: true, fail_fast: false"
    )


def test_a_logged_traceback_is_masked_too():
    register_secret(WEBHOOK)
    try:
        raise ConnectionError("cannot reach /v1/services/T0123ABCD/aB3dE6gH9jK2mN5pQ8")
    except ConnectionError:
        record = logging.LogRecord(
            "sailjobs.x", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    assert MaskingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert "Traceback" in text and "aB3dE6gH9jK2mN5pQ8" not in text and "T0123ABCD" not in text


def test_redact_url_drops_userinfo():
    assert (
        redact_url("https://bot:p4ss-w0rd@hooks.example.com/x")
        == f"https://hooks.example.com/{MASK}"
    )
