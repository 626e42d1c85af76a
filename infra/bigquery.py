"""The walkthrough's BigQuery datasets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_gcp as gcp


@dataclass(frozen=True)
class BigQueryArgs:
    project: str
    location: str
    dataset_ids: Sequence[str]
    labels: dict
    keep_data: bool
    depends_on: Sequence[pulumi.Resource] = ()


class BigQueryDatasets(pulumi.ComponentResource):
    """One dataset per id, in the bucket's location (BigQuery loads from GCS need both in one
    location).

    Tables are created by the flows, not here: without `keep_data`, destroy deletes the datasets
    with their tables (`delete_contents_on_destroy`); with it, datasets are retained. Grants live in
    `infra/identity.py`.
    """

    def __init__(self, name: str, args: BigQueryArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("kestra-gcp:infra:BigQueryDatasets", name, None, opts)
        self.datasets = {
            dataset_id: gcp.bigquery.Dataset(
                dataset_id,
                project=args.project,
                dataset_id=dataset_id,
                location=args.location,
                description=f"Kestra walkthrough dataset {dataset_id}, managed by Pulumi",
                delete_contents_on_destroy=not args.keep_data,
                labels=args.labels,
                opts=pulumi.ResourceOptions(
                    parent=self, retain_on_delete=args.keep_data, depends_on=list(args.depends_on)
                ),
            )
            for dataset_id in args.dataset_ids
        }
        self.dataset_ids = {key: ds.dataset_id for key, ds in self.datasets.items()}
        self.register_outputs({"dataset_ids": self.dataset_ids})
