"""sailjobs-s3: the ``s3`` action, uploads a job's downloaded export to S3 or any
S3-compatible store (MinIO, Ceph, R2, …).

In a manifest::

    jobs:
      export-main:
        job: export_list_data
        list: Main Newsletter
        on_success:
          - download: {path: "exports/main-${{ run.date }}.csv"}
          - s3:
              bucket: crm-exports
              key: "sailthru/{date}/{filename}"
              sse: aws:kms
              kms_key_id: alias/crm-exports

The file is ``source``, else the ``download`` action's ``path`` output of the same job, else
the job's export when it is already a local file (``ActionContext.export_path``: a
``split: true`` job's joined CSV, uploaded without a ``download`` first).
Credentials come from boto3's usual chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``,
``AWS_PROFILE`` or ``profile``, an instance role), never from the manifest. Files above
``multipart_threshold_mb`` go up in parts (boto3's TransferConfig). Uploading again to the
same key replaces the object, so a retried or resumed action is harmless. Outputs ``url``,
``bucket``, ``key`` and ``etag``. Before the run (``sailjobs plan``, and ``run`` before its
first POST) the credentials and the bucket are checked with a HEAD request (``check_bucket``).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

from pydantic import Field, field_validator, model_validator

from runner.actions import (
    ActionContext,
    ActionSettings,
    ActionType,
    DryRunContext,
    SettingProblem,
)
from runner.hookspecs import hookimpl
from runner.masking import mask
from runner.placeholders import check_placeholders, fill_placeholders

__version__ = "0.1.0"

MIB = 1024 * 1024
KEY_FIELDS = ("manifest", "run_id", "job", "filename", "date")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# Error codes S3 answers that no retry will fix, with what the user should do.
CLIENT_ERROR_HINTS = {
    "NoSuchBucket": "the bucket does not exist; create it or fix 'bucket'",
    "AccessDenied": "access denied; give the credentials s3:PutObject on the bucket (and "
    "kms:GenerateDataKey on the key with aws:kms)",
    "InvalidAccessKeyId": "the access key is unknown; check AWS_ACCESS_KEY_ID or the profile",
    "SignatureDoesNotMatch": "the secret key is wrong; check AWS_SECRET_ACCESS_KEY or the profile",
    "KMS.NotFoundException": "the KMS key does not exist; fix 'kms_key_id'",
    "InvalidArgument": "S3 rejected an argument; check sse, kms_key_id and storage_class",
}


class S3Settings(ActionSettings):
    """Settings of the ``s3`` action (strict: an unknown key is an error with its line)."""

    bucket: str = Field(description="The bucket's name (not an s3:// URL).")
    key: str = Field(
        default="{manifest}/{date}/{filename}",
        description="Placeholders: {manifest} {run_id} {job} {filename} {date}.",
    )
    source: str | None = Field(
        default=None, description="The file to upload; default: the download action's path."
    )
    endpoint_url: str | None = Field(
        default=None, description="An S3-compatible store (MinIO, Ceph, R2); default: AWS."
    )
    region: str | None = Field(default=None, description="the AWS region (default: the profile's)")
    profile: str | None = Field(
        default=None, description="the AWS profile to read credentials from"
    )
    sse: Literal["AES256", "aws:kms"] | None = Field(
        default=None, description="Server-side encryption."
    )
    kms_key_id: str | None = Field(
        default=None, description="The KMS key (id, ARN or alias) with sse: aws:kms."
    )
    storage_class: str | None = Field(default=None, description="e.g. STANDARD_IA, GLACIER")
    content_type: str | None = Field(
        default=None, description="the Content-Type (default: guessed from the file name)"
    )
    multipart_threshold_mb: int = Field(
        default=64, ge=5, description="files from this size (MiB) upload in parts"
    )
    part_size_mb: int = Field(default=16, ge=5, description="size of each part (MiB), at least 5")
    max_concurrency: int = Field(default=4, ge=1, le=32, description="parts uploaded at once")
    retries: int = Field(default=4, ge=0, le=10, description="botocore retries per request")
    timeout: float = Field(default=60.0, gt=0, description="seconds to wait for each request")

    @field_validator("bucket")
    @classmethod
    def _bucket_name(cls, value: str) -> str:
        if "${{" not in value and not BUCKET_NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid bucket name (3-63 lower-case letters, digits, '.' "
                "and '-'); give only the name, not an s3:// URL"
            )
        return value

    @field_validator("key")
    @classmethod
    def _key_template(cls, value: str) -> str:
        check_placeholders(value, KEY_FIELDS, "key")
        if value.startswith("/"):
            raise ValueError("key must not start with '/'")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or "${{" in value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"endpoint_url must be an http(s) URL, got {value!r}")
        return value

    @model_validator(mode="after")
    def _kms_key_needs_kms(self) -> S3Settings:
        if self.kms_key_id and self.sse != "aws:kms":
            raise ValueError("kms_key_id needs sse: aws:kms")
        return self


class S3UploadError(Exception):
    """The upload failed; the message says what, where and what to do."""

    transient = False  # botocore already retried each request


def source_file(settings: S3Settings, ctx: ActionContext) -> Path:
    """The file to upload: ``source``, the path the job's ``download`` action wrote, or the
    job's export when it is a local file."""
    if settings.source is not None:
        raw = settings.source
    elif ctx.job is not None and ctx.job.outputs.get("path"):
        raw = str(ctx.job.outputs["path"])
    elif ctx.export_path is not None:
        raw = str(ctx.export_path)
    else:
        where = f"job {ctx.job.id!r}" if ctx.job is not None else "a notify action"
        raise S3UploadError(
            f"s3: nothing to upload in {where}: no 'path' output; put a download action "
            "before s3 in the same list, or set 'source'"
        )
    path = Path(raw)
    if not path.is_absolute():
        path = ctx.workdir / path
    if not path.is_file():
        raise S3UploadError(f"s3: {path} does not exist or is not a file; check 'source'")
    return path


def object_key(settings: S3Settings, ctx: ActionContext, path: Path) -> str:
    fields = {
        "manifest": ctx.run.manifest_name,
        "run_id": ctx.run.run_id,
        "job": ctx.job.id if ctx.job is not None else "run",
        "filename": path.name,
        "date": ctx.run.run_date.isoformat(),  # run.date: a backfill's --date too
    }
    return fill_placeholders(settings.key, fields)


def object_url(settings: S3Settings, region: str, key: str) -> str:
    if settings.endpoint_url:  # path-style: works with every S3-compatible store
        return f"{settings.endpoint_url.rstrip('/')}/{settings.bucket}/{quote(key)}"
    return f"https://{settings.bucket}.s3.{region}.amazonaws.com/{quote(key)}"


def _extra_args(settings: S3Settings, ctx: ActionContext, path: Path) -> dict[str, Any]:
    content_type = settings.content_type or mimetypes.guess_type(path.name)[0]
    extra: dict[str, Any] = {
        "ContentType": content_type or "application/octet-stream",
        "Metadata": {"sailjobs-run": ctx.run.run_id, "sailjobs-manifest": ctx.run.manifest_name},
    }
    if ctx.job is not None:
        extra["Metadata"]["sailjobs-job"] = ctx.job.id
    if settings.sse:
        extra["ServerSideEncryption"] = settings.sse
    if settings.kms_key_id:
        extra["SSEKMSKeyId"] = settings.kms_key_id
    if settings.storage_class:
        extra["StorageClass"] = settings.storage_class
    return extra


def _explain(exc: Exception, settings: S3Settings, target: str) -> str:
    import botocore.exceptions

    where = settings.endpoint_url or "AWS S3"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return (
            "s3: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "AWS_PROFILE or 'profile'"
        )
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return f"s3: {exc}; fix 'profile' or AWS_PROFILE"
    if isinstance(
        exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectTimeoutError
    ):
        return (
            f"s3: cannot reach {where} after {settings.retries + 1} attempt(s); check "
            "endpoint_url and that the store is up, then resume the run"
        )
    text = str(exc)
    code = ""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
    else:  # S3UploadFailedError keeps only the ClientError's text
        found = re.search(r"An error occurred \(([^)]+)\)", text)
        code = found.group(1) if found else ""
    hint = CLIENT_ERROR_HINTS.get(code)
    if hint:
        return f"s3: uploading to {target} at {where} failed: {hint} ({code})"
    return f"s3: uploading to {target} at {where} failed: {text}"


def upload(settings: S3Settings, ctx: ActionContext) -> dict[str, Any]:
    """Upload the file; return the outputs (``url``, ``bucket``, ``key``, ``etag``, ``size``)."""
    # boto3 takes a third of a second to import: only when an upload happens, so that
    # ``sailjobs validate`` and ``--help`` (which load every plugin) stay fast.
    import boto3
    import botocore.exceptions
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig

    path = source_file(settings, ctx)
    key = object_key(settings, ctx, path)
    target = f"s3://{settings.bucket}/{key}"
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        client = _s3_client(
            settings, session, attempts=settings.retries + 1, timeout=settings.timeout
        )
    except botocore.exceptions.BotoCoreError as exc:
        raise S3UploadError(mask(_explain(exc, settings, target))) from exc
    transfer = TransferConfig(
        multipart_threshold=settings.multipart_threshold_mb * MIB,
        multipart_chunksize=settings.part_size_mb * MIB,
        max_concurrency=settings.max_concurrency,
    )
    try:
        client.upload_file(
            str(path),
            settings.bucket,
            key,
            ExtraArgs=_extra_args(settings, ctx, path),
            Config=transfer,
        )
        head = client.head_object(Bucket=settings.bucket, Key=key)
    except (
        botocore.exceptions.BotoCoreError,
        botocore.exceptions.ClientError,
        S3UploadFailedError,
    ) as exc:
        raise S3UploadError(mask(_explain(exc, settings, target))) from exc
    finally:
        client.close()
    region = client.meta.region_name or "us-east-1"
    return {
        "url": object_url(settings, region, key),
        "bucket": settings.bucket,
        "key": key,
        "etag": str(head.get("ETag", "")).strip('"'),
        "size": path.stat().st_size,
    }


def _s3_client(settings: S3Settings, session: Any, *, attempts: int, timeout: float) -> Any:
    """A boto3 S3 client of ``session`` for ``settings``."""
    from botocore.config import Config

    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url,
        config=Config(
            retries={"max_attempts": attempts, "mode": "standard"},
            connect_timeout=timeout,
            read_timeout=timeout,
            s3={"addressing_style": "path"} if settings.endpoint_url else None,
        ),
    )


# A plan waits for one answer per bucket, not for a run's patience.
CHECK_TIMEOUT = 10.0


def check_bucket(settings: S3Settings) -> Iterator[SettingProblem]:
    """Credentials from boto3's chain, and the bucket reachable with them (HEAD bucket:
    nothing is written)."""
    if "${{" in settings.bucket or "${{" in (settings.endpoint_url or ""):
        return  # reads a job's outputs: known only during the run
    # lazy: as in ``upload``, boto3 loads only when a plan or a run reaches S3
    import boto3
    import botocore.exceptions

    where = settings.endpoint_url or "AWS S3"
    target = f"s3://{settings.bucket}"
    try:
        session = boto3.session.Session(profile_name=settings.profile, region_name=settings.region)
        found = session.get_credentials()
        client = _s3_client(
            settings, session, attempts=2, timeout=min(settings.timeout, CHECK_TIMEOUT)
        )
    except botocore.exceptions.BotoCoreError as exc:
        yield SettingProblem("profile", mask(_explain(exc, settings, target)))
        return
    if found is None:
        client.close()
        no_credentials = botocore.exceptions.NoCredentialsError()
        yield SettingProblem("profile", mask(_explain(no_credentials, settings, target)))
        return
    try:
        client.head_bucket(Bucket=settings.bucket)
    except botocore.exceptions.ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("404", "NoSuchBucket"):
            yield SettingProblem(
                "bucket",
                f"s3: bucket {settings.bucket!r} does not exist at {where}; create it or fix 'bucket'",
            )
        elif code in ("403", "AccessDenied"):
            yield SettingProblem(
                "bucket",
                f"s3: access to bucket {settings.bucket!r} at {where} denied; give the "
                "credentials s3:ListBucket and s3:PutObject on it",
            )
        else:
            yield SettingProblem(None, mask(_explain(exc, settings, target)))
    except botocore.exceptions.BotoCoreError as exc:
        yield SettingProblem(None, mask(_explain(exc, settings, target)))
    finally:
        client.close()


class S3Action(ActionType):
    """Upload the job's export (or ``source``) to a bucket."""

    name: ClassVar[str] = "s3"
    settings_model: ClassVar[type[ActionSettings]] = S3Settings
    outputs: ClassVar[frozenset[str]] = frozenset({"url", "bucket", "key", "etag", "size"})
    attempts: ClassVar[int] = 1  # botocore retries each request (``retries``)

    def check(self, settings: Any, ctx: DryRunContext) -> Iterator[SettingProblem]:
        if ctx.network:
            yield from check_bucket(settings)

    def run(self, settings: Any, ctx: ActionContext) -> dict[str, Any]:
        outputs = upload(settings, ctx)
        ctx.logger.info(
            "s3: uploaded %s bytes to s3://%s/%s",
            outputs["size"],
            outputs["bucket"],
            outputs["key"],
        )
        return outputs


@hookimpl
def sailjobs_action_types() -> list[ActionType]:
    return [S3Action()]
