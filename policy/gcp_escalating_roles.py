"""Project roles that can make their holder an owner, decided by the permissions each role holds.

A project-level grant of a role holding one of these permissions lets its holder grant itself
more, up to roles/owner. Sources (Google Cloud's IAM documentation):
- resourcemanager.projects.setIamPolicy: the holder rewrites the project's allow policy, and
  "service accounts can be made owners of a project directly without any restrictions"
  (cloud.google.com/resource-manager/reference/rest/v1/projects/setIamPolicy);
- iam.serviceAccounts.* (actAs, getAccessToken, getOpenIdToken, implicitDelegation, signBlob,
  signJwt, setIamPolicy) and iam.serviceAccountKeys.create/upload: the holder acts as any service
  account of the project, owners included ("Roles for managing and impersonating service
  accounts", cloud.google.com/iam/docs/service-account-permissions; "Best practices for using
  service accounts securely", cloud.google.com/iam/docs/best-practices-service-accounts: "Avoid
  letting users change the allow policies of more-privileged service accounts", "Don't let users
  create or upload service account keys", "Don't grant access to service accounts at the Google
  Cloud project or folder level");
- compute.instances.setMetadata, compute.projects.setCommonInstanceMetadata,
  compute.instances.osAdminLogin: shell on any VM, so the token of its attached service account
  (same page: "Limit shell access to VMs that have a privileged service account attached");
- iam.roles.update: the holder adds any permission to a custom role of the project it holds
  (projects.roles.patch: cloud.google.com/iam/docs/reference/rest/v1/projects.roles/patch).

ROLES lists every predefined role holding one of them, read from Google's role definitions
(`gcloud iam roles list --filter=etag:AA==`, then `gcloud iam roles describe` of each, as fetched
daily into github.com/darkbitio/gcp-iam-role-permissions: its 2,387 roles at commit 8ab2a6f,
2026-08-22), roles/owner and roles/editor aside (basic roles, refused anyway).
Roles this table does not know (newer ones, custom roles) are judged by name only.
"""

from __future__ import annotations

SET_PROJECT_POLICY = "resourcemanager.projects.setIamPolicy"
SET_ACCOUNT_POLICY = "iam.serviceAccounts.setIamPolicy"
ACT_AS = "iam.serviceAccounts.actAs"
GET_ACCESS_TOKEN = "iam.serviceAccounts.getAccessToken"
GET_ID_TOKEN = "iam.serviceAccounts.getOpenIdToken"
DELEGATE = "iam.serviceAccounts.implicitDelegation"
SIGN_BLOB = "iam.serviceAccounts.signBlob"
SIGN_JWT = "iam.serviceAccounts.signJwt"
CREATE_KEY = "iam.serviceAccountKeys.create"
UPLOAD_KEY = "iam.serviceAccountKeys.upload"
UPDATE_ROLE = "iam.roles.update"
SET_METADATA = "compute.instances.setMetadata"
SET_PROJECT_METADATA = "compute.projects.setCommonInstanceMetadata"
OS_ADMIN_LOGIN = "compute.instances.osAdminLogin"

# What a project-level holder of each permission can do (the message says it).
WHY = {
    SET_PROJECT_POLICY: "grant any role on the project, roles/owner included",
    SET_ACCOUNT_POLICY: "let itself act as any service account of the project, owners included",
    ACT_AS: "act as any service account of the project",
    GET_ACCESS_TOKEN: "mint tokens of any service account of the project",
    GET_ID_TOKEN: "mint ID tokens of any service account of the project",
    DELEGATE: "mint tokens of any service account of the project through another",
    SIGN_BLOB: "sign as any service account of the project",
    SIGN_JWT: "sign JWTs as any service account of the project",
    CREATE_KEY: "create keys of any service account of the project",
    UPLOAD_KEY: "upload keys for any service account of the project",
    UPDATE_ROLE: "add any permission to the project's custom roles",
    SET_METADATA: "put its SSH key on any VM and use the VM's service account",
    SET_PROJECT_METADATA: "put its SSH key on every VM and use their service accounts",
    OS_ADMIN_LOGIN: "log in as root on any VM and use the VM's service account",
}

ROLES: dict[str, tuple[str, ...]] = {
    "roles/aiplatform.colabServiceAgent": (ACT_AS, SET_METADATA),
    "roles/aiplatform.customCodeServiceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE, SIGN_BLOB, SIGN_JWT),
    "roles/aiplatform.extensionServiceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/aiplatform.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN, SET_METADATA),
    "roles/apigateway.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/apigee.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/appengine.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN, SIGN_BLOB),
    "roles/appengineflex.serviceAgent": (
        SET_PROJECT_POLICY, ACT_AS, GET_ACCESS_TOKEN, SIGN_BLOB, SIGN_JWT, SET_METADATA, SET_PROJECT_METADATA,
    ),
    "roles/assuredoss.admin": (CREATE_KEY,),
    "roles/backupdr.computeEngineOperator": (ACT_AS, SET_METADATA),
    "roles/backupdr.serviceAgent": (ACT_AS, SET_METADATA),
    "roles/batch.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/bigquerycontinuousquery.serviceAgent": (GET_ACCESS_TOKEN,),
    "roles/bigquerydatatransfer.serviceAgent": (GET_ACCESS_TOKEN,),
    "roles/bigqueryspark.serviceAgent": (GET_ACCESS_TOKEN,),
    "roles/cloudbuild.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/cloudconfig.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN),
    "roles/clouddeploy.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN),
    "roles/clouddeploymentmanager.serviceAgent": (ACT_AS, UPDATE_ROLE, SET_METADATA),
    "roles/cloudfunctions.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN, SIGN_BLOB),
    "roles/cloudmigration.inframanager": (SET_METADATA,),
    "roles/cloudscheduler.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/cloudtasks.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/cloudtpu.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/composer.ServiceAgentV2Ext": (SET_ACCOUNT_POLICY,),
    "roles/composer.serviceAgent": (
        ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN,
    ),
    "roles/compute.admin": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/compute.editor": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/compute.instanceAdmin": (SET_METADATA, OS_ADMIN_LOGIN),
    "roles/compute.instanceAdmin.v1": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/compute.instanceGroupManagerServiceAgent": (ACT_AS, SET_METADATA, OS_ADMIN_LOGIN),
    "roles/compute.osAdminLogin": (OS_ADMIN_LOGIN,),
    "roles/compute.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE, SIGN_JWT, SET_METADATA),
    "roles/configdelivery.serviceAgent": (ACT_AS,),
    "roles/connectors.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE),
    "roles/container.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/dataflow.serviceAgent": (
        ACT_AS, GET_ACCESS_TOKEN, DELEGATE, SIGN_BLOB, SIGN_JWT, SET_METADATA, OS_ADMIN_LOGIN,
    ),
    "roles/datapipelines.serviceAgent": (ACT_AS,),
    "roles/dataplex.serviceAgent": (ACT_AS,),
    "roles/dataprep.serviceAgent": (ACT_AS,),
    "roles/dataproc.hubAgent": (ACT_AS, SET_METADATA),
    "roles/dataproc.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, SET_METADATA, OS_ADMIN_LOGIN),
    "roles/earthengine.appsPublisher": (SET_ACCOUNT_POLICY,),
    "roles/eventarc.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/firebase.managementServiceAgent": (SET_PROJECT_POLICY,),
    "roles/firebaseapphosting.serviceAgent": (ACT_AS,),
    "roles/firebasemods.serviceAgent": (ACT_AS,),
    "roles/gameservices.serviceAgent": (ACT_AS,),
    "roles/genomics.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/gkehub.crossProjectServiceAgent": (SET_PROJECT_POLICY,),
    "roles/hypercomputecluster.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, SET_METADATA),
    "roles/iam.admin": (SET_ACCOUNT_POLICY, ACT_AS, CREATE_KEY, UPDATE_ROLE),
    "roles/iam.dataScientist": (ACT_AS,),
    "roles/iam.databasesAdmin": (ACT_AS,),
    "roles/iam.devOps": (SET_ACCOUNT_POLICY, ACT_AS, OS_ADMIN_LOGIN),
    "roles/iam.editor": (ACT_AS, CREATE_KEY),
    "roles/iam.infrastructureAdmin": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/iam.networkAdmin": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/iam.organizationRoleAdmin": (UPDATE_ROLE,),
    "roles/iam.roleAdmin": (UPDATE_ROLE,),
    "roles/iam.securityAdmin": (SET_PROJECT_POLICY, SET_ACCOUNT_POLICY),
    "roles/iam.serviceAccountAdmin": (SET_ACCOUNT_POLICY,),
    "roles/iam.serviceAccountKeyAdmin": (CREATE_KEY,),
    "roles/iam.serviceAccountOpenIdTokenCreator": (GET_ID_TOKEN,),
    "roles/iam.serviceAccountTokenCreator": (GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE, SIGN_BLOB, SIGN_JWT),
    "roles/iam.serviceAccountUser": (ACT_AS,),
    "roles/iam.siteReliabilityEngineer": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/iam.workloadIdentityUser": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/integrations.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/krmapihosting.anthosApiEndpointServiceAgent": (SET_PROJECT_POLICY, ACT_AS),
    "roles/krmapihosting.serviceAgent": (ACT_AS,),
    "roles/lifesciences.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/metastore.migrationAdmin": (SET_METADATA,),
    "roles/ml.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE, SIGN_BLOB, SIGN_JWT),
    "roles/notebooks.legacyAdmin": (SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/notebooks.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, SET_METADATA, SET_PROJECT_METADATA, OS_ADMIN_LOGIN),
    "roles/osconfig.serviceAgent": (ACT_AS, SET_METADATA, SET_PROJECT_METADATA),
    "roles/privilegedaccessmanager.projectServiceAgent": (SET_PROJECT_POLICY,),
    "roles/privilegedaccessmanager.serviceAgent": (SET_PROJECT_POLICY,),
    "roles/pubsub.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN, DELEGATE, SIGN_BLOB, SIGN_JWT),
    "roles/resourcemanager.folderAdmin": (SET_PROJECT_POLICY,),
    "roles/resourcemanager.organizationAdmin": (SET_PROJECT_POLICY,),
    "roles/resourcemanager.projectIamAdmin": (SET_PROJECT_POLICY,),
    "roles/run.serviceAgent": (ACT_AS, GET_ACCESS_TOKEN, GET_ID_TOKEN, SIGN_BLOB),
    "roles/runapps.serviceAgent": (ACT_AS,),
    "roles/securesourcemanager.serviceAgent": (SIGN_JWT,),
    "roles/securitycenter.admin": (CREATE_KEY,),
    "roles/securitycenter.securityResponseServiceAgent": (ACT_AS, SET_METADATA),
    "roles/sourcerepo.serviceAgent": (GET_ACCESS_TOKEN,),
    "roles/spanner.serviceAgent": (SET_METADATA,),
    "roles/vmmigration.serviceAgent": (SET_METADATA,),
    "roles/vpcaccess.serviceAgent": (SET_METADATA, SET_PROJECT_METADATA),
    "roles/workflows.serviceAgent": (GET_ACCESS_TOKEN, GET_ID_TOKEN),
    "roles/workstations.serviceAgent": (ACT_AS, SET_METADATA),
}
