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
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// A provider the echo binary can stand in for: started as pulumi-resource-<name>.
type providerSpec struct {
	// Config keys (without the "<name>:" prefix) templates may read when an input lacks them,
	// as the real provider defaults a resource's project from its own configuration.
	configDefaults []string
}

var providers = map[string]providerSpec{
	"gcp":    {configDefaults: []string{"project", "region"}},
	"docker": {},
	"random": {},
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
