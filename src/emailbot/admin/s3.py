"""Upload of backups to S3 or any S3-compatible store (MinIO, Ceph, Wasabi…), when EMAILBOT_BACKUP_S3_BUCKET is set.

boto3 is an optional extra (`pip install emailbot[s3]`): most installations keep backups on a mounted volume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from emailbot.admin.common import OpsError
from emailbot.settings import Settings


def upload_backup(settings: Settings, path: Path) -> str:
    """Put `path` under EMAILBOT_BACKUP_S3_PREFIX in the bucket; returns the object's s3:// address."""
    if not settings.backup_s3_bucket:
        raise OpsError("EMAILBOT_BACKUP_S3_BUCKET is not set")
    client = _client(settings)
    key = settings.backup_s3_prefix.lstrip("/") + path.name
    try:
        client.upload_file(str(path), settings.backup_s3_bucket, key)
    except Exception as exc:  # noqa: BLE001 - botocore raises many types; the operator needs the message
        raise OpsError(f"upload to s3://{settings.backup_s3_bucket}/{key} failed: {exc}") from None
    return f"s3://{settings.backup_s3_bucket}/{key}"


def _client(settings: Settings) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise OpsError("uploading backups to S3 needs boto3: install emailbot[s3]") from None
    secret = settings.backup_s3_secret_access_key
    return boto3.client(
        "s3",
        endpoint_url=settings.backup_s3_endpoint_url,
        region_name=settings.backup_s3_region or "us-east-1",
        aws_access_key_id=settings.backup_s3_access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        # S3-compatible stores often reject the newer default checksums and virtual-host addressing.
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if settings.backup_s3_endpoint_url else None,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
