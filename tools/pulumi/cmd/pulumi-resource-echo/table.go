package main

// The one table: every provider, resource type and invoke the echo plugins answer, and every
// computed output they add to a resource's inputs. Attribute names are the real providers' (the
// Pulumi names in their schemas, as the Python SDKs' getters spell them); tests check them
// against the installed SDKs (tests/engine/test_echo_plugins.py).
//
// Adding a provider: one entry in `providers` (its Python package must be installed, for the
// version) and one row per resource type the program registers. A type without a row fails
// `Check` with a message naming it, so nothing the program adds is echoed without a decision.

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// A provider the echo binary can stand in for: started as pulumi-resource-<name>.
type providerSpec struct {
	// Config keys (without the "<name>:" prefix) templates may read when an input lacks them,
	// as the real provider defaults a resource's project from its own configuration.
	configDefaults []string
	// Configuration keys whose change replaces the provider (and so every resource it manages).
	replaceConfig []string
}

var providers = map[string]providerSpec{
	"gcp":    {configDefaults: []string{"project", "region"}},
	"docker": {},
	"random": {},
	// pulumi-kubernetes: "the provider will only be replaced when clusterIdentifier is changed;
	// all other changes to provider configuration will be treated as updates" (its schema).
	"kubernetes": {replaceConfig: []string{"clusterIdentifier"}},
	"tls":        {},
}

// How a resource type is echoed.
type resourceSpec struct {
	// The resource's id, as the real provider sets it.
	id value
	// Outputs the real provider computes, in order (later rows may use earlier ones).
	computed []row
	// Input properties whose change the real provider can only apply by replacing the resource
	// (ForceNew in its schema). `replaceAllBut` inverts it: everything replaces except these.
	replaces      []string
	replaceAllBut []string
	// How the real provider names the resource when the program does not (in Check).
	autoname *autonaming
	// The id is generated from the computed outputs (made after them), not from inputs only.
	idLast bool
}

// One computed output: the real attribute name and how its value is made.
type row struct {
	attr   string
	value  value
	secret bool // the real provider marks it sensitive
}

// A value is either a template over inputs ("{accountId}@{project}.iam.gserviceaccount.com",
// known as soon as every property it names is) or a generator, run once at create and kept on
// update, like the real provider's server-assigned values (ids, keys, timestamps).
type value struct {
	template string
	generate func(r *rowContext) resource.PropertyValue
}

func tmpl(t string) value { return value{template: t} }

func gen(f func(r *rowContext) resource.PropertyValue) value { return value{generate: f} }

var resources = map[string]resourceSpec{
	// ---- gcp (pulumi-gcp; ids as the Terraform google provider sets them) ----
	"gcp:projects/service:Service": {
		id:       tmpl("{project}/{service}"),
		replaces: []string{"project", "service"},
	},
	"gcp:storage/bucket:Bucket": {
		id: tmpl("{name}"),
		computed: []row{
			{attr: "url", value: tmpl("gs://{name}")},
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/storage/v1/b/{name}")},
			{attr: "projectNumber", value: gen(projectNumber)},
			{attr: "timeCreated", value: gen(now)},
			{attr: "updated", value: gen(now)},
			// The provider's default labels are not modelled: effective labels are the resource's.
			{attr: "effectiveLabels", value: tmpl("{labels}"), secret: true},
			{attr: "pulumiLabels", value: tmpl("{labels}"), secret: true},
		},
		replaces: []string{"name", "project", "location"},
	},
	"gcp:storage/bucketObject:BucketObject": {
		id: tmpl("{bucket}-{name}"),
		computed: []row{
			{attr: "outputName", value: tmpl("{name}")},
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/storage/v1/b/{bucket}/o/{name}")},
			{attr: "mediaLink", value: tmpl("https://storage.googleapis.com/download/storage/v1/b/{bucket}/o/{name}?alt=media")},
			{attr: "generation", value: gen(generation)},
		},
		replaces: []string{"bucket", "name", "source", "content", "contentType"},
	},
	"gcp:storage/notification:Notification": {
		id: tmpl("{bucket}/notificationConfigs/1"),
		computed: []row{
			{attr: "notificationId", value: tmpl("1")},
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/storage/v1/b/{bucket}/notificationConfigs/1")},
		},
		// Every argument of google_storage_notification is ForceNew.
		replaceAllBut: []string{},
	},
	"gcp:storage/bucketIAMMember:BucketIAMMember": {
		id:       tmpl("b/{bucket}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"bucket", "role", "member", "condition"},
	},
	"gcp:bigquery/dataset:Dataset": {
		id: tmpl("projects/{project}/datasets/{datasetId}"),
		computed: []row{
			{attr: "selfLink", value: tmpl("https://bigquery.googleapis.com/bigquery/v2/projects/{project}/datasets/{datasetId}")},
			{attr: "etag", value: gen(etag)},
			{attr: "creationTime", value: gen(epochMillis)},
			{attr: "lastModifiedTime", value: gen(epochMillis)},
			{attr: "effectiveLabels", value: tmpl("{labels}"), secret: true},
			{attr: "pulumiLabels", value: tmpl("{labels}"), secret: true},
		},
		replaces: []string{"datasetId", "project", "location"},
	},
	"gcp:bigquery/datasetIamMember:DatasetIamMember": {
		id:       tmpl("projects/{project}/datasets/{datasetId}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"datasetId", "project", "role", "member", "condition"},
	},
	"gcp:pubsub/topic:Topic": {
		id: tmpl("projects/{project}/topics/{name}"),
		computed: []row{
			{attr: "effectiveLabels", value: tmpl("{labels}"), secret: true},
			{attr: "pulumiLabels", value: tmpl("{labels}"), secret: true},
		},
		replaces: []string{"name", "project", "kmsKeyName"},
	},
	"gcp:pubsub/subscription:Subscription": {
		id: tmpl("projects/{project}/subscriptions/{name}"),
		computed: []row{
			{attr: "effectiveLabels", value: tmpl("{labels}"), secret: true},
			{attr: "pulumiLabels", value: tmpl("{labels}"), secret: true},
		},
		replaces: []string{"name", "project", "topic"},
	},
	"gcp:pubsub/topicIAMMember:TopicIAMMember": {
		id:       tmpl("{topic}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"topic", "project", "role", "member", "condition"},
	},
	"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": {
		id:       tmpl("{subscription}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"subscription", "project", "role", "member", "condition"},
	},
	"gcp:projects/iAMMember:IAMMember": {
		id:       tmpl("{project}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"project", "role", "member", "condition"},
	},
	"gcp:serviceaccount/account:Account": {
		id: tmpl("projects/{project}/serviceAccounts/{accountId}@{project}.iam.gserviceaccount.com"),
		computed: []row{
			{attr: "email", value: tmpl("{accountId}@{project}.iam.gserviceaccount.com")},
			{attr: "member", value: tmpl("serviceAccount:{email}")},
			{attr: "name", value: tmpl("projects/{project}/serviceAccounts/{email}")},
			{attr: "uniqueId", value: gen(uniqueID)},
		},
		replaces: []string{"accountId", "project"},
	},
	"gcp:serviceaccount/key:Key": {
		id: gen(keyID),
		computed: []row{
			{attr: "name", value: gen(func(r *rowContext) resource.PropertyValue { return resource.NewProperty(r.id) })},
			// base64 of a JSON credentials file, as GCP returns it (TYPE_GOOGLE_CREDENTIALS_FILE).
			{attr: "privateKey", value: gen(serviceAccountKeyFile), secret: true},
			{attr: "publicKey", value: gen(publicKey)},
			{attr: "validAfter", value: gen(now)},
			{attr: "validBefore", value: tmpl("9999-12-31T23:59:59Z")},
		},
		replaces: []string{"serviceAccountId", "keyAlgorithm", "privateKeyType", "publicKeyType", "keepers", "publicKeyData"},
	},

	// ---- docker (pulumi-docker, the kreuzwerker/docker Terraform provider) ----
	"docker:index/network:Network": {
		id:       gen(dockerID),
		computed: []row{{attr: "scope", value: tmpl("local")}},
		// Every argument of docker_network is ForceNew except labels.
		replaceAllBut: []string{"labels"},
	},
	"docker:index/volume:Volume": {
		id:            tmpl("{name}"),
		computed:      []row{{attr: "mountpoint", value: tmpl("/var/lib/docker/volumes/{name}/_data")}},
		replaceAllBut: []string{},
	},
	"docker:index/remoteImage:RemoteImage": {
		// The provider's id is the image id followed by the reference.
		id: tmpl("{imageId}{name}"),
		computed: []row{
			{attr: "imageId", value: gen(imageID)},
			{attr: "repoDigest", value: gen(repoDigest)},
		},
		replaces: []string{"name", "pullTriggers", "build", "platform"},
	},
	"docker:index/container:Container": {
		id: gen(dockerID),
		computed: []row{
			{attr: "bridge", value: tmpl("")},
			{attr: "exitCode", value: gen(func(*rowContext) resource.PropertyValue { return resource.NewProperty(0.0) })},
		},
		// Only these docker_container arguments update in place; every other change recreates it.
		replaceAllBut: []string{
			"restart", "cpuShares", "cpuSet", "memory", "memorySwap", "destroyGraceSeconds",
			"wait", "waitTimeout", "mustRun", "start", "attach", "logs", "rm", "containerReadRefreshTimeoutMilliseconds",
		},
	},

	// ---- gcp: grants, ACLs and dataset access the policy pack judges (no profile creates them) ----
	// IAM bindings and policies: the Terraform google provider's IAM framework (tpgiamresource/
	// resource_iam_binding.go: id "<resource id>/<role>", role and condition ForceNew, members
	// updated in place; resource_iam_policy.go: id "<resource id>", policy_data updated in place), with
	// each service's resource id and ForceNew parent (iam_project.go, storage/iam_storage_bucket.go
	// "b/<bucket>", bigquery/iam_bigquery_dataset.go, pubsub/iam_pubsub_topic.go and _subscription.go).
	"gcp:projects/iAMBinding:IAMBinding": {
		id:       tmpl("{project}/{role}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"project", "role", "condition"},
	},
	"gcp:projects/iAMPolicy:IAMPolicy": {
		id:       tmpl("{project}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"project"},
	},
	"gcp:storage/bucketIAMBinding:BucketIAMBinding": {
		id:       tmpl("b/{bucket}/{role}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"bucket", "role", "condition"},
	},
	"gcp:storage/bucketIAMPolicy:BucketIAMPolicy": {
		id:       tmpl("b/{bucket}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"bucket"},
	},
	"gcp:bigquery/datasetIamBinding:DatasetIamBinding": {
		id:       tmpl("projects/{project}/datasets/{datasetId}/{role}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"datasetId", "project", "role", "condition"},
	},
	"gcp:bigquery/datasetIamPolicy:DatasetIamPolicy": {
		id:       tmpl("projects/{project}/datasets/{datasetId}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"datasetId", "project"},
	},
	"gcp:pubsub/topicIAMBinding:TopicIAMBinding": {
		id:       tmpl("{topic}/{role}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"topic", "project", "role", "condition"},
	},
	"gcp:pubsub/topicIAMPolicy:TopicIAMPolicy": {
		id:       tmpl("{topic}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"topic", "project"},
	},
	"gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding": {
		id:       tmpl("{subscription}/{role}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"subscription", "project", "role", "condition"},
	},
	"gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy": {
		id:       tmpl("{subscription}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"subscription", "project"},
	},
	// Storage ACLs (services/storage/resource_storage_*.go): the access controls' ids are
	// "{bucket}/{entity}" and "{bucket}/{object}/{entity}" (only the bucket's has bucket and entity
	// ForceNew; the object ones change identity in place), the ACLs' "<bucket>-acl", "<bucket>" and
	// "<object>-acl" with bucket, object and a bucket's predefined_acl ForceNew.
	"gcp:storage/bucketAccessControl:BucketAccessControl": {
		id:       tmpl("{bucket}/{entity}"),
		replaces: []string{"bucket", "entity"},
	},
	"gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl": {
		id: tmpl("{bucket}/{entity}"),
	},
	"gcp:storage/objectAccessControl:ObjectAccessControl": {
		id: tmpl("{bucket}/{object}/{entity}"),
	},
	"gcp:storage/bucketACL:BucketACL": {
		id:       tmpl("{bucket}-acl"),
		replaces: []string{"bucket", "predefinedAcl"},
	},
	"gcp:storage/defaultObjectACL:DefaultObjectACL": {
		id:       tmpl("{bucket}"),
		replaces: []string{"bucket"},
	},
	"gcp:storage/objectACL:ObjectACL": {
		id:       tmpl("{object}-acl"),
		replaces: []string{"bucket", "object"},
	},
	// services/bigquery/resource_bigquery_dataset_access.go: id "projects/{project}/datasets/
	// {dataset_id}", every argument ForceNew but deletion_policy.
	"gcp:bigquery/datasetAccess:DatasetAccess": {
		id:            tmpl("projects/{project}/datasets/{datasetId}"),
		computed:      []row{{attr: "apiUpdatedMember", value: gen(func(*rowContext) resource.PropertyValue { return resource.NewProperty(false) })}},
		replaceAllBut: []string{"deletionPolicy"},
	},

	// ---- random (pulumi-random) ----
	"random:index/randomPassword:RandomPassword": {
		id: tmpl("none"),
		computed: []row{
			{attr: "result", value: gen(password), secret: true},
			{attr: "bcryptHash", value: gen(bcryptHash), secret: true},
		},
		// Every random_password argument requires replacement.
		replaceAllBut: []string{},
	},

	// ---- gcp: the gke profile (network, GKE, Cloud SQL, HTTPS endpoint) ----
	// Names: pulumi-gcp names every resource whose `name` the program leaves out (lowercase,
	// 63 characters for the compute resources); ids are the Terraform provider's.
	"gcp:compute/network:Network": {
		id:       tmpl("projects/{project}/global/networks/{name}"),
		autoname: gcpLowerName,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{name}")},
			{attr: "numericId", value: gen(uniqueID)},
		},
		replaces: []string{"name", "project", "description", "autoCreateSubnetworks", "enableUlaInternalIpv6", "internalIpv6Range", "networkProfile"},
	},
	"gcp:compute/subnetwork:Subnetwork": {
		id:       tmpl("projects/{project}/regions/{region}/subnetworks/{name}"),
		autoname: gcpLowerName,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/regions/{region}/subnetworks/{name}")},
			{attr: "gatewayAddress", value: gen(func(r *rowContext) resource.PropertyValue {
				return str(gatewayOf(r.lookupString("ipCidrRange")))
			})},
			{attr: "creationTimestamp", value: gen(now)},
			{attr: "fingerprint", value: gen(etag)},
		},
		replaces: []string{"name", "project", "region", "network", "purpose"},
	},
	"gcp:compute/globalAddress:GlobalAddress": {
		id:       tmpl("projects/{project}/global/addresses/{name}"),
		autoname: gcpLowerName,
		computed: []row{
			{attr: "address", value: gen(globalAddress)},
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/addresses/{name}")},
			{attr: "creationTimestamp", value: gen(now)},
		},
		// google_compute_global_address updates only its labels in place.
		replaceAllBut: []string{"labels"},
	},
	"gcp:compute/router:Router": {
		id:       tmpl("projects/{project}/regions/{region}/routers/{name}"),
		autoname: gcpLowerName,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/regions/{region}/routers/{name}")},
			{attr: "creationTimestamp", value: gen(now)},
		},
		replaces: []string{"name", "project", "region", "network"},
	},
	"gcp:compute/routerNat:RouterNat": {
		id:       tmpl("{project}/{region}/{router}/{name}"),
		autoname: gcpLowerName,
		replaces: []string{"name", "project", "region", "router"},
	},
	"gcp:compute/firewall:Firewall": {
		id:       tmpl("projects/{project}/global/firewalls/{name}"),
		autoname: gcpAutoname,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/firewalls/{name}")},
			{attr: "creationTimestamp", value: gen(now)},
		},
		replaces: []string{"name", "project", "network", "direction"},
	},
	"gcp:compute/sSLCertificate:SSLCertificate": {
		id:       tmpl("projects/{project}/global/sslCertificates/{name}"),
		autoname: gcpAutoname,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/sslCertificates/{name}")},
			{attr: "certificateId", value: gen(func(r *rowContext) resource.PropertyValue {
				return resource.NewProperty(float64(1e15 + hashByte(r.urn, 3)))
			})},
			{attr: "creationTimestamp", value: gen(now)},
			{attr: "expireTime", value: gen(func(r *rowContext) resource.PropertyValue {
				return str(must(parseCert(r.lookupString("certificate"))).NotAfter.UTC().Format(time.RFC3339))
			})},
		},
		// A certificate cannot change in place (every argument is ForceNew).
		replaceAllBut: []string{},
	},
	"gcp:compute/managedSslCertificate:ManagedSslCertificate": {
		id:       tmpl("projects/{project}/global/sslCertificates/{name}"),
		autoname: gcpAutoname,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/sslCertificates/{name}")},
			{attr: "certificateId", value: gen(func(r *rowContext) resource.PropertyValue {
				return resource.NewProperty(float64(1e15 + hashByte(r.urn, 4)))
			})},
			{attr: "subjectAlternativeNames", value: tmpl("{managed.domains}")},
			{attr: "type", value: tmpl("MANAGED")},
		},
		replaceAllBut: []string{},
	},
	"gcp:compute/securityPolicy:SecurityPolicy": {
		id:       tmpl("projects/{project}/global/securityPolicies/{name}"),
		autoname: gcpLowerName,
		computed: []row{
			{attr: "selfLink", value: tmpl("https://www.googleapis.com/compute/v1/projects/{project}/global/securityPolicies/{name}")},
			{attr: "fingerprint", value: gen(etag)},
		},
		replaces: []string{"name", "project", "type"},
	},
	"gcp:servicenetworking/connection:Connection": {
		id:       tmpl("{network}:{service}"),
		computed: []row{{attr: "peering", value: tmpl("servicenetworking-googleapis-com")}},
		replaces: []string{"network", "service"},
	},
	"gcp:serviceaccount/iAMMember:IAMMember": {
		id:       tmpl("{serviceAccountId}/{role}/{member}"),
		computed: []row{{attr: "etag", value: gen(etag)}},
		replaces: []string{"serviceAccountId", "role", "member", "condition"},
	},
	"gcp:container/cluster:Cluster": {
		id: tmpl("projects/{project}/locations/{location}/clusters/{name}"),
		computed: []row{
			{attr: "endpoint", value: gen(clusterEndpoint)},
			{attr: "masterAuth", value: gen(clusterMasterAuth)},
			{attr: "masterVersion", value: tmpl("1.33.5-gke.1201000")},
			{attr: "selfLink", value: tmpl("https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}")},
		},
		replaces: []string{
			"name", "project", "location", "network", "subnetwork", "networkingMode", "ipAllocationPolicy",
			"initialNodeCount", "nodeConfig", "privateClusterConfig",
		},
	},
	"gcp:container/nodePool:NodePool": {
		id:       tmpl("projects/{project}/locations/{location}/clusters/{cluster}/nodePools/{name}"),
		autoname: gcpAutoname,
		computed: []row{
			{attr: "version", value: tmpl("1.33.5-gke.1201000")},
			{attr: "instanceGroupUrls", value: gen(func(r *rowContext) resource.PropertyValue {
				return resource.NewProperty([]resource.PropertyValue{str(fmt.Sprintf(
					"https://www.googleapis.com/compute/v1/projects/%s/zones/%s/instanceGroupManagers/gke-%s-%s-%s-grp",
					r.lookupString("project"), r.lookupString("location"), r.lookupString("cluster"), r.lookupString("name"), randomHex(8)))})
			})},
		},
		// nodeConfig updates in place (machine type, disk type and size since the Terraform google
		// provider 5.10; a few of its fields still force new, which top-level diffs cannot tell).
		replaces: []string{"name", "namePrefix", "project", "location", "cluster", "initialNodeCount"},
	},
	"gcp:sql/databaseInstance:DatabaseInstance": {
		id:       tmpl("{name}"),
		autoname: gcpAutoname,
		computed: []row{
			{attr: "connectionName", value: tmpl("{project}:{region}:{name}")},
			{attr: "privateIpAddress", value: gen(privateIP)},
			{attr: "publicIpAddress", value: gen(func(r *rowContext) resource.PropertyValue {
				if r.lookupString("settings.ipConfiguration.ipv4Enabled") == "false" {
					return str("")
				}
				return str(fmt.Sprintf("203.0.113.%d", 1+hashByte(r.urn, 5)%254))
			})},
			{attr: "ipAddresses", value: gen(func(r *rowContext) resource.PropertyValue {
				var list []resource.PropertyValue
				for _, a := range []struct{ attr, kind string }{{"publicIpAddress", "PRIMARY"}, {"privateIpAddress", "PRIVATE"}} {
					if ip := r.lookupString(a.attr); ip != "" {
						list = append(list, resource.NewProperty(resource.PropertyMap{"ipAddress": str(ip), "type": str(a.kind)}))
					}
				}
				return resource.NewProperty(list)
			})},
			{attr: "serverCaCerts", value: gen(serverCaCerts), secret: true},
			{attr: "selfLink", value: tmpl("https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/{name}")},
			{attr: "serviceAccountEmailAddress", value: gen(func(r *rowContext) resource.PropertyValue {
				return str(fmt.Sprintf("p%s-%s@gcp-sa-cloud-sql.iam.gserviceaccount.com", projectNumberOf(r.lookupString("project")), randomHex(6)))
			})},
		},
		replaces: []string{"name", "project", "region", "masterInstanceName", "encryptionKeyName", "replicaConfiguration"},
	},
	"gcp:sql/database:Database": {
		id:       tmpl("projects/{project}/instances/{instance}/databases/{name}"),
		computed: []row{{attr: "selfLink", value: tmpl("https://sqladmin.googleapis.com/sql/v1beta4/projects/{project}/instances/{instance}/databases/{name}")}},
		replaces: []string{"name", "project", "instance"},
	},
	"gcp:sql/user:User": {
		// google_sql_user's id is name/host/instance (host is empty for PostgreSQL).
		id:       tmpl("{name}//{instance}"),
		replaces: []string{"name", "project", "instance", "host", "type"},
	},

	// ---- kubernetes (pulumi-kubernetes): outputs are the object as the API server returns it ----
	// Names: the provider names objects whose metadata.name the program leaves out; ids are
	// "<namespace>/<name>" for namespaced objects. Secrets and ConfigMaps are immutable by
	// default (enableSecretMutable / enableConfigMapMutable off): a change of their data replaces.
	"kubernetes:core/v1:Namespace": {
		id:       tmpl("{metadata.name}"),
		autoname: k8sAutoname,
		computed: []row{{attr: "status", value: gen(func(*rowContext) resource.PropertyValue {
			return resource.NewProperty(resource.PropertyMap{"phase": str("Active")})
		})}},
	},
	"kubernetes:core/v1:Secret": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
		replaces: []string{"data", "stringData", "type", "immutable"},
	},
	"kubernetes:core/v1:ConfigMap": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
		replaces: []string{"data", "binaryData", "immutable"},
	},
	"kubernetes:core/v1:Service": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
	},
	"kubernetes:networking.k8s.io/v1:Ingress": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
	},
	// The beta Ingress APIs pulumi-kubernetes still types (the policy pack judges them too).
	"kubernetes:networking.k8s.io/v1beta1:Ingress": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
	},
	"kubernetes:extensions/v1beta1:Ingress": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
	},
	// An apiextensions.CustomResource is registered as kubernetes:<apiVersion>:<kind>.
	"kubernetes:cloud.google.com/v1:BackendConfig": {
		id:       tmpl("{metadata.namespace}/{metadata.name}"),
		autoname: k8sAutoname,
	},
	"kubernetes:helm.sh/v3:Release": {
		id: tmpl("{namespace}/{name}"),
		computed: []row{{attr: "status", value: gen(func(r *rowContext) resource.PropertyValue {
			return resource.NewProperty(resource.PropertyMap{
				"name": str(r.lookupString("name")), "namespace": str(r.lookupString("namespace")),
				"chart": str(r.lookupString("chart")), "version": str(r.lookupString("version")),
				"revision": resource.NewProperty(1.0), "status": str("deployed"),
			})
		})}},
		replaces: []string{"name", "namespace"},
	},

	// ---- tls (pulumi-tls): real keys and certificates, made once at create ----
	// Every argument requires replacement, except early_renewal_hours of the certificates.
	"tls:index/privateKey:PrivateKey": {
		id:     gen(idOfPublicKey),
		idLast: true,
		computed: []row{
			{attr: "privateKeyPem", value: gen(newPrivateKey), secret: true},
			{attr: "privateKeyPemPkcs8", value: gen(privateKeyPkcs8), secret: true},
			{attr: "privateKeyOpenssh", value: gen(privateKeyOpenssh), secret: true},
			{attr: "publicKeyPem", value: gen(publicKeyPem)},
			{attr: "publicKeyOpenssh", value: gen(publicKeyOpenssh)},
			{attr: "publicKeyFingerprintMd5", value: gen(fingerprintMd5)},
			{attr: "publicKeyFingerprintSha256", value: gen(fingerprintSha256)},
		},
		replaceAllBut: []string{},
	},
	"tls:index/selfSignedCert:SelfSignedCert": {
		id:     gen(idOfCert),
		idLast: true,
		computed: []row{
			{attr: "certPem", value: gen(selfSignedCert)},
			{attr: "keyAlgorithm", value: gen(algorithmOfInput("privateKeyPem"))},
			{attr: "validityStartTime", value: gen(certTime(false))},
			{attr: "validityEndTime", value: gen(certTime(true))},
			{attr: "readyForRenewal", value: gen(readyForRenewal)},
		},
		replaceAllBut: []string{"earlyRenewalHours"},
	},
	"tls:index/certRequest:CertRequest": {
		id:     gen(idOfRequest),
		idLast: true,
		computed: []row{
			{attr: "certRequestPem", value: gen(certRequest)},
			{attr: "keyAlgorithm", value: gen(algorithmOfInput("privateKeyPem"))},
		},
		replaceAllBut: []string{},
	},
	"tls:index/locallySignedCert:LocallySignedCert": {
		id:     gen(idOfCert),
		idLast: true,
		computed: []row{
			{attr: "certPem", value: gen(locallySignedCert)},
			{attr: "caKeyAlgorithm", value: gen(algorithmOfInput("caPrivateKeyPem"))},
			{attr: "validityStartTime", value: gen(certTime(false))},
			{attr: "validityEndTime", value: gen(certTime(true))},
			{attr: "readyForRenewal", value: gen(readyForRenewal)},
		},
		replaceAllBut: []string{"earlyRenewalHours"},
	},
}

// gatewayOf is the first address of a subnet's primary range (GCP's default gateway).
func gatewayOf(cidr string) string {
	_, network, err := net.ParseCIDR(cidr)
	if err != nil {
		return ""
	}
	ip := network.IP.To4()
	if ip == nil {
		return ""
	}
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+1).String()
}

// Invokes the program calls, answered as the real provider would.
var invokes = map[string]func(r *rowContext) (resource.PropertyMap, error){
	// The project's Cloud Storage service agent.
	"gcp:storage/getProjectServiceAccount:getProjectServiceAccount": func(r *rowContext) (resource.PropertyMap, error) {
		project, ok := r.lookup("project")
		if !ok || project == "" {
			return nil, fmt.Errorf("getProjectServiceAccount: no project given and no gcp:project configured")
		}
		number := projectNumberOf(project)
		email := fmt.Sprintf("service-%s@gs-project-accounts.iam.gserviceaccount.com", number)
		return resource.PropertyMap{
			"emailAddress": resource.NewProperty(email),
			"member":       resource.NewProperty("serviceAccount:" + email),
			"project":      resource.NewProperty(project),
			"id":           resource.NewProperty(project),
		}, nil
	},
}

// replaceable reports whether a change to property `key` of a resource of this spec forces a
// replacement.
func (s resourceSpec) replaceable(key string) bool {
	if s.replaceAllBut != nil {
		for _, k := range s.replaceAllBut {
			if k == key {
				return false
			}
		}
		return true
	}
	for _, k := range s.replaces {
		if k == key {
			return true
		}
	}
	return false
}

// providerOf is the package part of a type or invoke token ("gcp:storage/bucket:Bucket" → "gcp").
func providerOf(token string) string {
	return strings.SplitN(token, ":", 2)[0]
}
