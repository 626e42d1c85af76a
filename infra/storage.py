"""The walkthrough's bucket, its folder placeholders and the sample data files."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import os

import pulumi
import pulumi_gcp as gcp

REPO_ROOT = Path(__file__).resolve().parents[1]

# Bucket object name -> file in the repository (see data/README.md).
DATA_FILES = {
    "data.csv": "data/data.csv",
    "taxi_zone_lookup.csv": "data/taxi_zone_lookup.csv",
    "yc-retry/data/retry-ok-file.csv": "data/yc-retry/retry-ok-file.csv",
    "yc-retry/data/retry-dirty-file.csv": "data/yc-retry/retry-dirty-file.csv",
    "yc-retry/data/retry-error-file.csv": "data/yc-retry/retry-error-file.csv",
}


def soft_delete_policy(keep_data: bool) -> dict | None:
    """A bucket's soft delete policy: none when destroy deletes the data.

    New buckets keep deleted objects, and a deleted bucket, for seven days by default, billed as
    stored data (cloud.google.com/storage/docs/soft-delete); `force_destroy` deletes objects, so
    they would outlive `pulumi destroy`. Retention 0 turns soft delete off (pulumi_gcp
    storage.BucketSoftDeletePolicyArgs.retention_duration_seconds). With keepData the bucket is
    left to Google's default (or the organization's): no policy block, and the provider keeps the
    server's value.
    """
    return None if keep_data else {"retention_duration_seconds": 0}


@dataclass(frozen=True)
class StorageArgs:
    project: str
    location: str
    bucket_name: str
    folders: Sequence[str]
    labels: dict
    keep_data: bool
    data_files: dict = field(default_factory=lambda: dict(DATA_FILES))
    depends_on: Sequence[pulumi.Resource] = ()


class Storage(pulumi.ComponentResource):
    """One private bucket (uniform access, public access prevention enforced) holding the
    walkthrough's folders and sample data.

    Folders are zero-byte `name/` objects, as the console creates them. With `keep_data` the bucket
    and its objects are retained on `pulumi destroy` (and not force-destroyed); otherwise destroy
    empties and deletes the bucket, with soft delete off so nothing deleted is kept and billed. Access grants live in `infra/identity.py`.
    """

    def __init__(self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:Storage", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, retain_on_delete=args.keep_data)
        self.bucket = gcp.storage.Bucket(
            "bucket",
            name=args.bucket_name,
            project=args.project,
            # GCS reports locations upper-case; matching it avoids a perpetual diff.
            location=args.location.upper(),
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            force_destroy=not args.keep_data,
            soft_delete_policy=soft_delete_policy(args.keep_data),
            labels=args.labels,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(args.depends_on))),
        )
        # Each object names the bucket by its output, so it waits for the bucket.
        object_opts = child
        self.folders = [
            gcp.storage.BucketObject(
                f"folder-{folder.strip('/').replace('/', '-')}",
                bucket=self.bucket.name,
                name=folder,
                # Zero bytes from an empty file, not StringAsset(""): the provider hands the input
                # asset back as an output, the engine drops an empty text when it passes it on,
                # and the Python SDK then cannot rebuild the asset ("Invalid asset").
                source=pulumi.FileAsset(os.devnull),
                content_type="application/x-directory",
                opts=object_opts,
            )
            for folder in args.folders
        ]
        self.data_objects = []
        for object_name, repo_path in args.data_files.items():
            path = REPO_ROOT / repo_path
            if not path.is_file():
                raise FileNotFoundError(f"{repo_path}: sample data file missing (run python data/generate.py)")
            self.data_objects.append(
                gcp.storage.BucketObject(
                    f"data-{object_name.replace('/', '-').replace('.', '-')}",
                    bucket=self.bucket.name,
                    name=object_name,
                    source=pulumi.FileAsset(str(path)),
                    content_type="text/csv",
                    opts=object_opts,
                )
            )
        self.bucket_name = self.bucket.name
        self.bucket_url = self.bucket.url
        self.register_outputs({"bucket_name": self.bucket_name, "bucket_url": self.bucket_url})
