"""The ``s3`` action against moto in server mode on loopback."""

from __future__ import annotations

import hashlib
import uuid

import boto3
import pytest
from plugin_results import make_context, make_job, make_run
from pydantic import ValidationError
from sailjobs_s3 import S3Action, S3Settings, S3UploadError

pytestmark = pytest.mark.usefixtures("aws_env")


@pytest.fixture
def bucket(moto_endpoint) -> str:
    name = f"exports-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=name)
    s3.close()
    return name


def fetch(endpoint: str, bucket: str, key: str) -> dict:
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
        answer["Data"] = answer["Body"].read()
        answer["Body"].close()
        return answer
    finally:
        s3.close()


def s3_settings(endpoint: str, bucket: str, **extra) -> S3Settings:
    return S3Settings.model_validate({"bucket": bucket, "endpoint_url": endpoint, **extra})


def test_uploads_the_downloaded_export_with_key_template(moto_endpoint, bucket, tmp_path):
    (tmp_path / "exports").mkdir()
    csv = tmp_path / "exports" / "main.csv"
    csv.write_text("email,opens\na@example.com,3\n")
    job = make_job("export-main", outputs={"path": "exports/main.csv"})
    ctx = make_context(make_run(job), job, workdir=tmp_path)

    outputs = S3Action().run(
        s3_settings(moto_endpoint, bucket, key="sailthru/{manifest}/{date}/{job}/{filename}"),
        ctx,
    )

    key = "sailthru/nightly-crm/2026-11-27/export-main/main.csv"
    assert outputs["bucket"] == bucket and outputs["key"] == key
    assert outputs["url"] == f"{moto_endpoint}/{bucket}/{key}"
    assert outputs["size"] == csv.stat().st_size
    stored = fetch(moto_endpoint, bucket, key)
    assert stored["Data"] == csv.read_bytes()
    assert outputs["etag"] == hashlib.md5(csv.read_bytes()).hexdigest()
    assert stored["ContentType"] == "text/csv"
    assert stored["Metadata"] == {
        "sailjobs-run": "run-20261127-0600",
        "sailjobs-manifest": "nightly-crm",
        "sailjobs-job": "export-main",
    }


def test_explicit_source_and_sse_kms(moto_endpoint, bucket, tmp_path):
    (tmp_path / "report.json").write_text("{}")
    ctx = make_context(make_run(), None, workdir=tmp_path)
    outputs = S3Action().run(
        s3_settings(
            moto_endpoint,
            bucket,
            source="report.json",
            key="runs/{run_id}/{filename}",
            sse="aws:kms",
            kms_key_id="alias/crm-exports",
        ),
        ctx,
    )
    stored = fetch(moto_endpoint, bucket, outputs["key"])
    assert outputs["key"] == "runs/run-20261127-0600/report.json"
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert stored["SSEKMSKeyId"].endswith("alias/crm-exports")


def test_sse_aes256(moto_endpoint, bucket, tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    outputs = S3Action().run(
        s3_settings(moto_endpoint, bucket, source="a.csv", sse="AES256"),
        make_context(make_run(), workdir=tmp_path),
    )
    assert fetch(moto_endpoint, bucket, outputs["key"])["ServerSideEncryption"] == "AES256"


def test_big_file_goes_up_in_parts(moto_endpoint, bucket, tmp_path):
    big = tmp_path / "big.csv"
    chunk = b"someone@example.com,1,2,3\n" * 40_000  # ~1 MiB
    with big.open("wb") as out:
        for _ in range(11):
            out.write(chunk)
    job = make_job("export-main", outputs={"path": str(big)})
    outputs = S3Action().run(
        s3_settings(moto_endpoint, bucket, multipart_threshold_mb=5, part_size_mb=5),
        make_context(make_run(job), job, workdir=tmp_path),
    )
    assert outputs["etag"].endswith("-3")  # S3's multipart ETag: <md5 of md5s>-<parts>
    assert fetch(moto_endpoint, bucket, outputs["key"])["Data"] == big.read_bytes()


def test_uploading_again_replaces_the_object(moto_endpoint, bucket, tmp_path):
    (tmp_path / "a.csv").write_text("first\n")
    settings = s3_settings(moto_endpoint, bucket, source="a.csv", key="fixed/a.csv")
    ctx = make_context(make_run(), workdir=tmp_path)
    S3Action().run(settings, ctx)
    (tmp_path / "a.csv").write_text("second\n")
    S3Action().run(settings, ctx)
    assert fetch(moto_endpoint, bucket, "fixed/a.csv")["Data"] == b"second\n"


def test_missing_bucket_is_a_clear_error(moto_endpoint, tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    with pytest.raises(S3UploadError, match=r"the bucket does not exist; create it or fix"):
        S3Action().run(
            s3_settings(moto_endpoint, "no-such-bucket-here", source="a.csv"),
            make_context(make_run(), workdir=tmp_path),
        )


def test_store_down_fails_after_retries(tmp_path):
    from plugin_servers import free_port

    (tmp_path / "a.csv").write_text("x\n")
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(S3UploadError) as caught:
        S3Action().run(
            s3_settings(endpoint, "exports", source="a.csv", retries=1, timeout=2),
            make_context(make_run(), workdir=tmp_path),
        )
    assert str(caught.value) == (
        f"s3: cannot reach {endpoint} after 2 attempt(s); check endpoint_url and that the "
        "store is up, then resume the run"
    )


def test_no_credentials(monkeypatch, moto_endpoint, tmp_path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    (tmp_path / "a.csv").write_text("x\n")
    with pytest.raises(S3UploadError, match="no AWS credentials found; set AWS_ACCESS_KEY_ID"):
        S3Action().run(
            s3_settings(moto_endpoint, "exports", source="a.csv"),
            make_context(make_run(), workdir=tmp_path),
        )


def test_unknown_profile_is_a_clear_error(moto_endpoint, tmp_path):
    (tmp_path / "a.csv").write_text("x\n")
    with pytest.raises(S3UploadError, match=r"profile.*not.*found.*; fix 'profile' or AWS_PROFILE"):
        S3Action().run(
            s3_settings(moto_endpoint, "exports", source="a.csv", profile="nope"),
            make_context(make_run(), workdir=tmp_path),
        )


def test_a_local_export_is_uploaded_without_a_download(moto_endpoint, bucket, tmp_path):
    """A split job's joined file (``export_path``, no export_url) goes up as it is."""
    joined = tmp_path / "state" / "purchases-20260101-20260209.csv"
    joined.parent.mkdir()
    joined.write_text("Date,Email Hash\n20260101,abc\n")
    job = make_job("purchases", outputs={"export_path": str(joined)})
    outputs = S3Action().run(
        s3_settings(moto_endpoint, bucket, key="p/{filename}"),
        make_context(make_run(job), job, workdir=tmp_path),
    )
    assert outputs["key"] == "p/purchases-20260101-20260209.csv"
    assert fetch(moto_endpoint, bucket, outputs["key"])["Data"] == joined.read_bytes()


def test_nothing_to_upload_says_what_to_add(moto_endpoint, tmp_path):
    job = make_job("export-main")
    with pytest.raises(S3UploadError, match="put a download action before s3"):
        S3Action().run(
            s3_settings(moto_endpoint, "exports"), make_context(make_run(job), job, tmp_path)
        )
    with pytest.raises(S3UploadError, match=r"missing\.csv does not exist"):
        S3Action().run(
            s3_settings(moto_endpoint, "exports", source="missing.csv"),
            make_context(make_run(job), job, tmp_path),
        )


def test_aws_url_without_endpoint():
    from sailjobs_s3 import object_url

    settings = S3Settings(bucket="crm-exports")
    assert (
        object_url(settings, "eu-west-1", "a b/c.csv")
        == "https://crm-exports.s3.eu-west-1.amazonaws.com/a%20b/c.csv"
    )


@pytest.mark.parametrize(
    ("data", "where", "message"),
    [
        ({"bucket": "s3://crm-exports"}, "bucket", "not a valid bucket name"),
        ({"key": "{manifest}/{when}"}, "key", "unknown placeholder {when}"),
        ({"key": "/abs/key"}, "key", "must not start with '/'"),
        ({"sse": "kms"}, "sse", "'AES256' or 'aws:kms'"),
        ({"sse": "AES256", "kms_key_id": "k"}, "", "kms_key_id needs sse: aws:kms"),
        ({"endpoint_url": "minio:9000"}, "endpoint_url", "must be an http(s) URL"),
        ({"part_size_mb": 1}, "part_size_mb", "greater than or equal to 5"),
        ({"acl": "public-read"}, "acl", "Extra inputs are not permitted"),
    ],
)
def test_bad_settings_fail_validation_at_their_key(data, where, message):
    with pytest.raises(ValidationError) as caught:
        S3Settings.model_validate({"bucket": "crm-exports", **data})
    [error] = caught.value.errors()
    assert (error["loc"][0] if error["loc"] else "") == where
    assert message in error["msg"]
