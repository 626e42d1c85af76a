"""The names shared by the stack and the flows: KV keys and secret names.

Flows read stack values only through ``{{ kv('KEY') }}`` and ``{{ secret('NAME') }}``. The
deployment sets exactly the KV keys below on every namespace it deploys, and the Kestra container
receives exactly the secrets below as ``SECRET_<NAME>`` environment variables (plus the GCP key,
which only Kestra's own configuration reads). Tests check every
flow against these sets, so a typo in a flow fails the suite instead of a run.
"""

# KV keys set on each deployed namespace when the GCP profile is active.
GCP_KV_KEYS = (
    "GCP_PROJECT_ID",  # e.g. my-project-123
    "GCP_LOCATION",  # region of the bucket and the BigQuery datasets, e.g. europe-west2
    "GCS_BUCKET",  # bucket name without gs://
    "BQ_DATASET_KESTRA_TEST",
    "BQ_DATASET_RAW",
    "BQ_DATASET_CLEAN",
    "BQ_DATASET_YELLOWCAB",
    "BQ_DATASET_YC_RETRY",
    "PUBSUB_TOPIC",  # short topic name
    "PUBSUB_SUBSCRIPTION",  # short subscription name
)

# KV keys set on each deployed namespace in every profile.
COMMON_KV_KEYS = (
    "GIT_REPOSITORY_URL",  # repository for NamespaceSync / TenantSync
    "GIT_BRANCH",
    "KESTRA_INTERNAL_URL",  # how flows inside Kestra reach its own API (TenantSync)
)

KV_KEYS = GCP_KV_KEYS + COMMON_KV_KEYS

# Secrets flows may read with {{ secret('NAME') }}: every runtime the stack runs gives its Kestra
# these (as SECRET_<NAME>, base64); GITHUB_TOKEN only when configured.
SECRET_NAMES = ("GITHUB_TOKEN", "KESTRA_USER", "KESTRA_PASSWORD")

# GCP credentials are the runtime's business, not the flows': the Docker runtime gives Kestra the
# service account key as this secret and points every GCP task at it through an instance-level
# plugin default (kestra.config.gcp_key_plugin_defaults); on GKE there is no key at all (Workload
# Identity). A flow that named this secret would fail on GKE, so it is not in SECRET_NAMES.
GCP_KEY_SECRET = "GCP_SERVICE_ACCOUNT"
