"""kestra-gcp: the Kestra-on-GCP walkthrough as one Pulumi program.

Only wiring: read the config once, build each component in dependency order, export the outputs
CI reads with `pulumi stack output --json`. What each piece does is documented in its module.
"""

import pulumi

from infra.bigquery import BigQueryArgs, BigQueryDatasets
from infra.config import check_in_gcp, load_config
from infra.deployment import FlowsDeployment, FlowsDeploymentArgs, stack_kv_values
from infra.events import EventsArgs, UploadEvents
from infra.identity import IdentityArgs, KestraIdentity
from infra.runtimes.docker import KestraRuntime, KestraRuntimeArgs
from infra.runtimes.external import external_runtime
from infra.runtimes.gke import KestraGke, KestraGkeArgs
from infra.services import GKE_SERVICES, REQUIRED_SERVICES, ProjectServices, ProjectServicesArgs
from infra.storage import Storage, StorageArgs
from kestra.resources import KestraConnection

config = load_config()
check_in_gcp(config)  # what only GCP can answer (gke: zones, gkeNetwork), before any resource
pulumi.export("profile", config.profile)

gcp_kv_values = None
gcp_resources: list[pulumi.Resource] = []
identity = None
if config.gcp is not None:
    gcp_cfg = config.gcp
    services = ProjectServices(
        "services",
        ProjectServicesArgs(project=gcp_cfg.project,
                            services=REQUIRED_SERVICES + (GKE_SERVICES if config.gke else ())),
    )
    storage = Storage(
        "storage",
        StorageArgs(
            project=gcp_cfg.project,
            location=gcp_cfg.region,
            bucket_name=gcp_cfg.bucket_name,
            folders=gcp_cfg.bucket_folders,
            labels=gcp_cfg.labels,
            keep_data=gcp_cfg.keep_data,
            depends_on=services.services,
        ),
    )
    bigquery = BigQueryDatasets(
        "bigquery",
        BigQueryArgs(
            project=gcp_cfg.project,
            location=gcp_cfg.region,
            dataset_ids=gcp_cfg.dataset_ids,
            labels=gcp_cfg.labels,
            keep_data=gcp_cfg.keep_data,
            depends_on=services.services,
        ),
    )
    events = UploadEvents(
        "events",
        EventsArgs(
            project=gcp_cfg.project,
            bucket_name=storage.bucket_name,
            topic_name=gcp_cfg.topic_name,
            subscription_name=gcp_cfg.subscription_name,
            labels=gcp_cfg.labels,
            depends_on=services.services,
        ),
    )
    identity = KestraIdentity(
        "identity",
        IdentityArgs(
            project=gcp_cfg.project,
            account_id=gcp_cfg.service_account_id,
            iam_mode=gcp_cfg.iam_mode,
            bucket_name=storage.bucket_name,
            bucket_object_role=gcp_cfg.bucket_object_role,
            dataset_ids=bigquery.dataset_ids,
            subscription_id=events.subscription_id,
            depends_on=services.services,
            # Only Kestra in Docker uses a key (SECRET_GCP_SERVICE_ACCOUNT): GKE is keyless (Workload
            # Identity) and an existing Kestra (kestraUrl) gets none, so no unused key exists, nor
            # fails `up` where the org policy iam.disableServiceAccountKeyCreation is enforced.
            create_key=config.docker is not None,
        ),
    )
    gcp_resources = [storage, bigquery, events, identity]
    gcp_kv_values = {
        "GCP_PROJECT_ID": gcp_cfg.project,
        "GCP_LOCATION": gcp_cfg.region,
        "GCS_BUCKET": storage.bucket_name,
        "BQ_DATASET_KESTRA_TEST": bigquery.dataset_ids["kestra_test"],
        "BQ_DATASET_RAW": bigquery.dataset_ids["raw"],
        "BQ_DATASET_CLEAN": bigquery.dataset_ids["clean"],
        "BQ_DATASET_YELLOWCAB": bigquery.dataset_ids["YellowCab"],
        "BQ_DATASET_YC_RETRY": bigquery.dataset_ids["yc_retry"],
        "PUBSUB_TOPIC": events.topic.name,
        "PUBSUB_SUBSCRIPTION": events.subscription.name,
    }
    pulumi.export("project", gcp_cfg.project)
    pulumi.export("region", gcp_cfg.region)
    pulumi.export("bucketName", storage.bucket_name)
    pulumi.export("bucketUrl", storage.bucket_url)
    pulumi.export("datasetIds", bigquery.dataset_ids)
    pulumi.export("serviceAccountEmail", identity.email)
    pulumi.export("topicId", events.topic_id)
    pulumi.export("subscriptionId", events.subscription_id)

# The runtime: Docker on this machine, GKE, or an existing Kestra. Each yields the same contract.
if config.docker is not None:
    runtime = KestraRuntime(
        "kestra", KestraRuntimeArgs.from_config(config, identity.private_key if identity else None)
    ).outputs
elif config.gke is not None:
    gke = KestraGke("gke", KestraGkeArgs.from_config(config, identity.email, identity.account_name, services.services))
    runtime = gke.outputs
    pulumi.export("clusterName", gke.cluster_name)
    pulumi.export("cloudSqlInstance", gke.cloud_sql_instance)
    pulumi.export("kestraAddress", gke.endpoint.ip_address)
else:
    runtime = external_runtime(config)

# Flows run as soon as they are saved (triggers start), so they wait for every GCP grant too.
flows = FlowsDeployment(
    "flows",
    FlowsDeploymentArgs(
        flows_dir=config.flows.path,
        catalogue=config.flows.catalogue,
        connection=KestraConnection(
            url=runtime.url, username=config.access.username, password=runtime.password,
            deadline=runtime.deadline, ca_certificate=runtime.ca_certificate,
        ),
        kv_values=stack_kv_values(
            git_repository_url=config.flows.git_repository_url,
            git_branch=config.flows.git_branch,
            kestra_internal_url=runtime.internal_url,
            gcp=gcp_kv_values,
        ),
        include_gcp=config.gcp is not None,
        demo_schedule_enabled=config.flows.demo_schedule_enabled,
        keep_data=config.keep_data,
        depends_on=[*runtime.ready, *gcp_resources],
    ),
)

pulumi.export("kestraUrl", runtime.url)
pulumi.export("kestraUsername", config.access.username)
pulumi.export("kestraPassword", pulumi.Output.secret(runtime.password))
if runtime.ca_certificate is not None:
    # Not secret (a CA certificate is public); clients verify kestraUrl against it.
    pulumi.export("kestraCaCertificate", runtime.ca_certificate)
pulumi.export("flows", sorted(flows.flows))
pulumi.export("skippedFlows", flows.skipped_flows)
# Whether the stack gave its Kestra a GitHub token / Gemini key (python -m kestra.tour reads these).
pulumi.export("gitSyncConfigured", runtime.configures_secrets and config.github_token is not None)
pulumi.export("aiConfigured", runtime.configures_secrets and config.gemini_api_key is not None)
