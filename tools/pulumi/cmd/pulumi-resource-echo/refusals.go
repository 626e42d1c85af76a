package main

// What GCP refuses, as the real gcp provider reports it: the echo gcp plugin consults the echo
// cloud (the store of live resources every echo plugin shares, storeEnvVar) before a create or a
// delete, and answers the real provider's error when Google's API would refuse the call. Each
// refusal cites where its behaviour and message come from. Without a store there is no cloud to
// consult and nothing is refused.
//
// Creates on Google's side are slow (an API's enablement, a GKE cluster and a Cloud SQL instance
// take seconds to minutes), echo creates are instant: a missing ordering edge could then pass by
// luck. So those creates are slow here too, deterministically: the resource is "provisioning"
// (a record in the store's provisioning/ folder, with the time it will be up) for
// provisioningEnvVar milliseconds after its create starts, and live once its create ends. A
// dependent created meanwhile meets the resource in the state Google would show it in.
//
// Another file adds refusals by appending to `refusals` in an init function.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	// How long a slow create (slowTypes) is provisioning, in milliseconds (default 0: up at once).
	provisioningEnvVar = "PULUMI_ECHO_GCP_PROVISIONING_MS"
	// How long enabling an API takes, if not as long as the other slow creates.
	enablementEnvVar = "PULUMI_ECHO_GCP_ENABLEMENT_MS"
	// Per-type provisioning times, "<type>=<ms>,…" or "<type>::<name>=<ms>" for one resource: a
	// listed create is slow for that long (whether or not slowTypes lists its type), as a test
	// makes one create slower than the others.
	slowTypesEnvVar = "PULUMI_ECHO_GCP_SLOW_MS"
	// Boolean organization policy constraints the echo project is under, comma-separated
	// ("iam.disableServiceAccountKeyCreation"), as a test sets them.
	enforcedConstraintsEnvVar = "PULUMI_ECHO_GCP_ENFORCED_CONSTRAINTS"
)

// An operation the engine asked for, as the refusals see it.
type operation struct {
	op     string // "create" or "delete"
	urn    string
	typ    string
	props  map[string]any // create: inputs and computed outputs; delete: the outputs held
	config map[string]string
}

// str is the string at a dotted path of props ("" when absent or not a string).
func (o *operation) str(path string) string { return stringAt(o.props, path) }

// project is the resource's project: its own input, else the provider's gcp:project.
func (o *operation) project() string {
	if p := o.str("project"); p != "" {
		return p
	}
	return o.config["project"]
}

// A refusal: for operation `op` on one of `types`, check answers the real provider's error, or nil.
type refusal struct {
	op    string
	types []string
	check func(c cloud, o *operation) error
}

var refusals []refusal

// refuse runs every refusal that applies to the operation; the first error is the answer.
func (p *echoProvider) refuse(op, urn string, props resource.PropertyMap) error {
	dir := os.Getenv(storeEnvVar)
	if dir == "" {
		return nil
	}
	p.mu.Lock()
	config := map[string]string{}
	for k, v := range p.config {
		config[k] = v
	}
	p.mu.Unlock()
	o := &operation{
		op: op, urn: urn, typ: typeOf(urn), config: config,
		props: deepUnwrap(resource.NewProperty(props)).ObjectValue().Mappable(),
	}
	for _, r := range refusals {
		if r.op == op && contains(r.types, o.typ) {
			if err := r.check(cloud{dir}, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// ---- the echo cloud: what the store holds -----------------------------------------------------

type cloud struct{ dir string }

// A resource the store holds: live (its create ended) or provisioning (its create is under way
// until readyAt, Unix milliseconds).
type held struct {
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Outputs map[string]any `json:"outputs"`
	ReadyAt int64          `json:"readyAt,omitempty"`
}

func (h held) str(path string) string { return stringAt(h.Outputs, path) }

// project is the held resource's project, else the given provider's default.
func (h held) project(config map[string]string) string {
	if p := h.str("project"); p != "" {
		return p
	}
	return config["project"]
}

func (c cloud) read(folder, typ string) []held {
	paths, _ := filepath.Glob(filepath.Join(folder, "*.json"))
	var found []held
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // deleted meanwhile
		}
		var h held
		if json.Unmarshal(raw, &h) == nil && h.Type == typ {
			found = append(found, h)
		}
	}
	return found
}

func (c cloud) provisioningDir() string { return filepath.Join(c.dir, "provisioning") }

// live lists the live resources of a type.
func (c cloud) live(typ string) []held { return c.read(c.dir, typ) }

// provisioning lists the resources of a type whose create is under way.
func (c cloud) provisioning(typ string) []held { return c.read(c.provisioningDir(), typ) }

// A resource's state in the echo cloud.
type phase int

const (
	absent phase = iota
	provisioning
	up
)

// A provisioning record this long past its readyAt is left over from a plugin that was stopped
// during the create: the engine holds that create as pending, and it counts for nothing.
const staleAfter = 5 * time.Second

// find looks a resource up by a predicate: provisioning first, then live — a create writes the
// live record before it removes the provisioning one, so this order never misses a resource.
func (c cloud) find(typ string, match func(held) bool) (phase, held) {
	for _, h := range c.provisioning(typ) {
		if match(h) && time.Since(time.UnixMilli(h.ReadyAt)) < staleAfter {
			return provisioning, h
		}
	}
	for _, h := range c.live(typ) {
		if match(h) {
			return up, h
		}
	}
	return absent, held{}
}

// ---- slow creates ------------------------------------------------------------------------------

// Creates that take Google a while: enabling an API (Service Usage answers a long-running
// operation the provider waits for: terraform-provider-google, resource_google_project_service.go),
// a GKE cluster (5-15 minutes, "creating GKE cluster" in resource_container_cluster.go), a Cloud
// SQL instance (resource_sql_database_instance.go waits for its insert operation), a private
// services connection (resource_service_networking_connection.go waits for its operation), and the grants
// a refusal here reads: an IAM member reads, changes and writes the resource's whole policy
// (iam.go, iamPolicyReadModifyWrite), and the grant takes effect only once it has propagated (GCP
// docs, "Access change propagation").
var slowTypes = []string{
	"gcp:projects/service:Service",
	"gcp:container/cluster:Cluster",
	"gcp:sql/databaseInstance:DatabaseInstance",
	"gcp:servicenetworking/connection:Connection",
	"gcp:pubsub/topicIAMMember:TopicIAMMember",
	"gcp:projects/iAMMember:IAMMember",
}

// slowOverrides reads slowTypesEnvVar.
func slowOverrides() map[string]int {
	found := map[string]int{}
	for _, entry := range strings.Split(os.Getenv(slowTypesEnvVar), ",") {
		typ, ms, ok := strings.Cut(strings.TrimSpace(entry), "=")
		if n, err := strconv.Atoi(ms); ok && err == nil && n >= 0 {
			found[typ] = n
		}
	}
	return found
}

// override is the slowTypesEnvVar time of the resource urn names, if any.
func override(urn string) (int, bool) {
	overrides := slowOverrides()
	if ms, ok := overrides[typeOf(urn)+"::"+resource.URN(urn).Name()]; ok {
		return ms, true
	}
	ms, ok := overrides[typeOf(urn)]
	return ms, ok
}

func isSlow(urn string) bool {
	_, listed := override(urn)
	return listed || contains(slowTypes, typeOf(urn))
}

func provisioningDelay(urn string) time.Duration {
	if ms, ok := override(urn); ok {
		return time.Duration(ms) * time.Millisecond
	}
	typ := typeOf(urn)
	ms, err := strconv.Atoi(os.Getenv(provisioningEnvVar))
	if typ == "gcp:projects/service:Service" && os.Getenv(enablementEnvVar) != "" {
		ms, err = strconv.Atoi(os.Getenv(enablementEnvVar))
	}
	if err != nil || ms < 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func provisioningPath(dir, urn string) string {
	sum := sha256.Sum256([]byte(urn))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}

// provision starts a slow create: the resource is provisioning in the store for the configured
// delay, then the caller keeps it live and calls the returned function to end provisioning.
func (p *echoProvider) provision(urn, id string, outs resource.PropertyMap) func() {
	dir := os.Getenv(storeEnvVar)
	if dir == "" || !isSlow(urn) {
		return func() {}
	}
	c := cloud{dir}
	delay := provisioningDelay(urn)
	doc, err := json.Marshal(held{
		URN: urn, Type: typeOf(urn), ID: id,
		Outputs: deepUnwrap(resource.NewProperty(outs)).ObjectValue().Mappable(),
		ReadyAt: time.Now().Add(delay).UnixMilli(),
	})
	path := provisioningPath(c.provisioningDir(), urn)
	if err == nil {
		err = os.MkdirAll(c.provisioningDir(), 0o700)
	}
	if err == nil {
		if err = os.WriteFile(path+".tmp", doc, 0o600); err == nil {
			err = os.Rename(path+".tmp", path)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo plugin: cannot record %s as provisioning: %v\n", urn, err)
	}
	time.Sleep(delay)
	return func() { _ = os.Remove(path) }
}

// awaitUp waits while a resource is provisioning (until its readyAt, then a little longer for its
// create to end), as the real provider waits on a lock the other create holds.
func (c cloud) awaitUp(typ string, match func(held) bool) (phase, held) {
	for {
		state, h := c.find(typ, match)
		if state != provisioning {
			return state, h
		}
		time.Sleep(max(time.Until(time.UnixMilli(h.ReadyAt)), 0) + 20*time.Millisecond)
	}
}

// ---- helpers -----------------------------------------------------------------------------------

func stringAt(m map[string]any, path string) string {
	var v any = m
	for _, part := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = obj[part]
	}
	s, _ := v.(string)
	return s
}

// lastSegment is the name in a relative resource name ("projects/p/topics/t" → "t").
func lastSegment(name string) string { return name[strings.LastIndex(name, "/")+1:] }

func googleapiError(code int, message, reason string) string {
	return fmt.Sprintf("googleapi: Error %d: %s, %s", code, message, reason)
}

// ---- the refusals ------------------------------------------------------------------------------

// The API each resource type calls: the host of the product's base path in
// terraform-provider-google (google/transport/config.go, DefaultBasePaths: ComputeBasePath
// https://compute.googleapis.com/compute/v1/, ContainerBasePath https://container.googleapis.com/v1/,
// SQLBasePath https://sqladmin.googleapis.com/sql/v1beta4/, …), with the title Google's error names
// it by. Only the APIs the stack enables itself (infra/services.py) are listed.
var apiOfType = map[string]string{}

var apiTitles = map[string]string{
	"storage.googleapis.com":           "Cloud Storage API",
	"bigquery.googleapis.com":          "BigQuery API",
	"pubsub.googleapis.com":            "Cloud Pub/Sub API",
	"iam.googleapis.com":               "Identity and Access Management (IAM) API",
	"compute.googleapis.com":           "Compute Engine API",
	"container.googleapis.com":         "Kubernetes Engine API",
	"sqladmin.googleapis.com":          "Cloud SQL Admin API",
	"servicenetworking.googleapis.com": "Service Networking API",
}

func init() {
	for api, types := range map[string][]string{
		"storage.googleapis.com": {
			"gcp:storage/bucket:Bucket", "gcp:storage/bucketObject:BucketObject",
			"gcp:storage/notification:Notification", "gcp:storage/bucketIAMMember:BucketIAMMember",
			// The grants and ACLs only the policy pack's tests create.
			"gcp:storage/bucketIAMBinding:BucketIAMBinding", "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
			"gcp:storage/bucketAccessControl:BucketAccessControl", "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl",
			"gcp:storage/objectAccessControl:ObjectAccessControl", "gcp:storage/bucketACL:BucketACL",
			"gcp:storage/defaultObjectACL:DefaultObjectACL", "gcp:storage/objectACL:ObjectACL",
		},
		"bigquery.googleapis.com": {
			"gcp:bigquery/dataset:Dataset", "gcp:bigquery/datasetIamMember:DatasetIamMember",
			"gcp:bigquery/datasetIamBinding:DatasetIamBinding", "gcp:bigquery/datasetIamPolicy:DatasetIamPolicy",
			"gcp:bigquery/datasetAccess:DatasetAccess",
		},
		"pubsub.googleapis.com": {
			"gcp:pubsub/topic:Topic", "gcp:pubsub/subscription:Subscription",
			"gcp:pubsub/topicIAMMember:TopicIAMMember", "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
			"gcp:pubsub/topicIAMBinding:TopicIAMBinding", "gcp:pubsub/topicIAMPolicy:TopicIAMPolicy",
			"gcp:pubsub/subscriptionIAMBinding:SubscriptionIAMBinding", "gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy",
		},
		"iam.googleapis.com": {
			"gcp:serviceaccount/account:Account", "gcp:serviceaccount/key:Key", "gcp:serviceaccount/iAMMember:IAMMember",
		},
		"compute.googleapis.com": {
			"gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork", "gcp:compute/globalAddress:GlobalAddress",
			"gcp:compute/router:Router", "gcp:compute/routerNat:RouterNat", "gcp:compute/firewall:Firewall",
			"gcp:compute/sSLCertificate:SSLCertificate", "gcp:compute/managedSslCertificate:ManagedSslCertificate",
			"gcp:compute/securityPolicy:SecurityPolicy",
		},
		"container.googleapis.com":         {"gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool"},
		"sqladmin.googleapis.com":          {"gcp:sql/databaseInstance:DatabaseInstance", "gcp:sql/database:Database", "gcp:sql/user:User"},
		"servicenetworking.googleapis.com": {"gcp:servicenetworking/connection:Connection"},
	} {
		for _, typ := range types {
			apiOfType[typ] = api
		}
	}
	var typed []string
	for typ := range apiOfType {
		typed = append(typed, typ)
	}
	refusals = append(refusals,
		refusal{op: "create", types: typed, check: refuseDisabledAPI},
		refusal{op: "create", types: []string{"gcp:serviceaccount/iAMMember:IAMMember"}, check: refuseMissingIdentityPool},
		refusal{op: "create", types: []string{"gcp:serviceaccount/key:Key"}, check: refuseKeyCreationByPolicy},
		refusal{op: "create", types: []string{"gcp:storage/notification:Notification"}, check: refuseNotificationWithoutPublisher},
		refusal{op: "create", types: []string{"gcp:container/nodePool:NodePool"}, check: refuseNodePoolWithoutCluster},
		refusal{op: "create", types: []string{"gcp:sql/user:User", "gcp:sql/database:Database"}, check: refuseSQLChildWithoutInstance},
		refusal{op: "create", types: []string{"gcp:sql/databaseInstance:DatabaseInstance"}, check: refusePrivateIPWithoutConnection},
	)
}

// The provider's own words before the API's answer, per type (its Create functions' fmt.Errorf).
func createErrorPrefix(o *operation) string {
	switch o.typ {
	case "gcp:serviceaccount/key:Key":
		return "Error creating service account key: " // resource_google_service_account_key.go
	case "gcp:container/nodePool:NodePool":
		return "error creating NodePool: " // resource_container_node_pool.go
	case "gcp:sql/user:User":
		// resource_sql_user.go: "Error, failed to insert user %s into instance %s: %s"
		return fmt.Sprintf("Error, failed to insert user %s into instance %s: ", o.str("name"), o.str("instance"))
	case "gcp:sql/databaseInstance:DatabaseInstance":
		return fmt.Sprintf("Error, failed to create instance %s: ", o.str("name")) // resource_sql_database_instance.go
	case "gcp:storage/notification:Notification":
		// resource_storage_notification.go
		return fmt.Sprintf("Error creating notification config for bucket %s: ", o.str("bucket"))
	}
	// The generated (mmv1) resources: "Error creating <Resource>: %s".
	return fmt.Sprintf("Error creating %s: ", typeName(o.typ))
}

func typeName(typ string) string { return typ[strings.LastIndex(typ, ":")+1:] }

// A call to an API the project has not enabled: 403 SERVICE_DISABLED, with the text Google sends
// (e.g. hashicorp/terraform-provider-google#1538, terraform-google-modules/
// terraform-google-project-factory#753: "… API has not been used in project <number> before or it
// is disabled. Enable it by visiting …"). The echo project starts with no API enabled: the stack
// enables each it uses (gcp:projects/service:Service), and an API is enabled once that create ends.
func refuseDisabledAPI(c cloud, o *operation) error {
	api := apiOfType[o.typ]
	project := o.project()
	state, _ := c.find("gcp:projects/service:Service", func(h held) bool {
		return h.str("service") == api && h.project(o.config) == project
	})
	if state == up {
		return nil
	}
	number := projectNumberOf(project)
	message := fmt.Sprintf("%s has not been used in project %s before or it is disabled. Enable it by visiting "+
		"https://console.developers.google.com/apis/api/%s/overview?project=%s then retry. If you enabled this "+
		"API recently, wait a few minutes for the action to propagate to our systems and retry.\nDetails:\n"+
		`[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "domain": "googleapis.com", `+
		`"metadata": {"consumer": "projects/%s", "service": "%s"}, "reason": "SERVICE_DISABLED"}]`,
		apiTitles[api], number, api, number, number, api)
	return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(403, message, "accessNotConfigured"))
}

var workloadIdentityMember = regexp.MustCompile(`^serviceAccount:([^\[]+\.svc\.id\.goog)\[`)

// A Workload Identity member (serviceAccount:<project>.svc.id.goog[<namespace>/<ksa>]) before its
// pool exists: the pool <project>.svc.id.goog is made with the first cluster whose
// workloadIdentityConfig names it, and IAM answers 400 before that; the provider does not retry
// (terraform-google-modules/terraform-google-kubernetes-engine#916, google/kctf#193). The pool is
// taken to exist once such a cluster's create has ended.
func refuseMissingIdentityPool(c cloud, o *operation) error {
	m := workloadIdentityMember.FindStringSubmatch(o.str("member"))
	if m == nil {
		return nil
	}
	pool := m[1]
	state, _ := c.find("gcp:container/cluster:Cluster", func(h held) bool {
		return h.str("workloadIdentityConfig.workloadPool") == pool
	})
	if state == up {
		return nil
	}
	// resource_google_service_account_iam_member.go via iam.go: "Error applying IAM policy for
	// service account '%s': Error setting IAM policy for service account '%s': %s".
	account := o.str("serviceAccountId")
	return fmt.Errorf("Error applying IAM policy for service account '%s': Error setting IAM policy for service "+
		"account '%s': %s", account, account, googleapiError(400, fmt.Sprintf("Identity Pool does not exist (%s). "+
		"Please check that you specified a valid resource name as returned in the `name` attribute in the "+
		"configuration API.", pool), "badRequest"))
}

// A service account key where the organization policy iam.disableServiceAccountKeyCreation is
// enforced (by default in organizations created since 3 May 2024: GCP docs, "Secure by default
// organizations"): FAILED_PRECONDITION, "Key creation is not allowed on this service account", with
// the violated constraint (google/create-service-account#21, GaloyMoney/galoy-infra#242).
func refuseKeyCreationByPolicy(_ cloud, o *operation) error {
	const constraint = "iam.disableServiceAccountKeyCreation"
	if !contains(strings.Split(os.Getenv(enforcedConstraintsEnvVar), ","), constraint) {
		return nil
	}
	account := o.str("serviceAccountId") // projects/<p>/serviceAccounts/<email>
	email := lastSegment(account)
	message := "Key creation is not allowed on this service account.\nDetails:\n" + fmt.Sprintf(
		`[{"@type": "type.googleapis.com/google.rpc.PreconditionFailure", "violations": [{"description": `+
			`"Key creation is not allowed on this service account.", "subject": "%s?configvalue=%s", "type": `+
			`"constraints/%s"}]}]`, account, url.QueryEscape(email), constraint)
	return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(400, message, "failedPrecondition"))
}

// Roles that hold pubsub.topics.publish (GCP docs, "Pub/Sub roles").
var publisherRoles = []string{"roles/pubsub.publisher", "roles/pubsub.editor", "roles/pubsub.admin", "roles/editor", "roles/owner"}

// A bucket notification before the project's Cloud Storage service agent may publish to the topic
// (and before the topic exists): GCS answers 403 (pulumi-gcp SDK docs, storage.Notification: the
// project's Cloud Storage service account "must have the IAM permission pubsub.topics.publish" on
// the topic; GCP docs, "Pub/Sub notifications for Cloud Storage", prerequisites; the text as in
// hashicorp/terraform-provider-google#4354 and
// GoogleCloudPlatform/k8s-config-connector#433). The agent may publish through a grant on the topic
// or on the project.
func refuseNotificationWithoutPublisher(c cloud, o *operation) error {
	project := o.config["project"]
	topic := o.str("topic") // projects/<p>/topics/<t>, or <t> in the provider's project
	if !strings.HasPrefix(topic, "projects/") {
		topic = fmt.Sprintf("projects/%s/topics/%s", project, topic)
	}
	agent := fmt.Sprintf("service-%s@gs-project-accounts.iam.gserviceaccount.com", projectNumberOf(project))
	member := "serviceAccount:" + agent
	topicState, _ := c.find("gcp:pubsub/topic:Topic", func(h held) bool {
		return fmt.Sprintf("projects/%s/topics/%s", h.project(o.config), lastSegment(h.str("name"))) == topic
	})
	onTopic, _ := c.find("gcp:pubsub/topicIAMMember:TopicIAMMember", func(h held) bool {
		t := h.str("topic")
		if !strings.HasPrefix(t, "projects/") {
			t = fmt.Sprintf("projects/%s/topics/%s", h.project(o.config), t)
		}
		return t == topic && h.str("member") == member && contains(publisherRoles, h.str("role"))
	})
	onProject, _ := c.find("gcp:projects/iAMMember:IAMMember", func(h held) bool {
		return h.project(o.config) == strings.Split(topic, "/")[1] &&
			h.str("member") == member && contains(publisherRoles, h.str("role"))
	})
	if topicState == up && (onTopic == up || onProject == up) {
		return nil
	}
	message := fmt.Sprintf("The service account '%s' does not have permission to publish messages to to the "+
		"Cloud Pub/Sub topic '//pubsub.googleapis.com/%s', or that topic does not exist.", agent, topic)
	return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(403, message, "forbidden"))
}

var clusterID = regexp.MustCompile(`^projects/([^/]+)/locations/([^/]+)/clusters/([^/]+)$`)

// A node pool before its cluster exists: the provider looks the pool up, then creates it, and
// retries only FAILED_PRECONDITION (a cluster busy with another operation); GKE answers 404 for a
// cluster it does not have (terraform-provider-google, resource_container_node_pool.go,
// resourceContainerNodePoolCreate). While the cluster's create is under way the provider waits:
// the node pool's create takes a read lock on the cluster's mutex key, which the cluster's create
// holds until it ends (containerClusterMutexKey in resource_container_cluster.go) — modelled here
// by waiting until the cluster is up.
func refuseNodePoolWithoutCluster(c cloud, o *operation) error {
	project, location, name := o.project(), o.str("location"), o.str("cluster")
	if m := clusterID.FindStringSubmatch(name); m != nil {
		project, location, name = m[1], m[2], m[3]
	}
	state, _ := c.awaitUp("gcp:container/cluster:Cluster", func(h held) bool {
		return h.str("name") == name && h.str("location") == location && h.project(o.config) == project
	})
	if state == up {
		return nil
	}
	message := fmt.Sprintf("Not found: projects/%s/locations/%s/clusters/%s.", project, location, name)
	return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(404, message, "notFound"))
}

// A Cloud SQL user or database before its instance is up. An instance that does not exist: 404
// instanceDoesNotExist (Cloud SQL Admin API, "Error messages": "The Cloud SQL instance does not
// exist."; the whole answer, "googleapi: Error 404: The Cloud SQL instance does not exist.,
// instanceDoesNotExist", as in GoogleCloudPlatform/cloud-sql-proxy#2244). One still being created
// (PENDING_CREATE): 400 "Invalid request: Invalid request since instance is not running., invalid"
// (turbot/steampipe-plugin-gcp#243, cloudquery/cloudquery#6966; terraform-provider-google matches
// "Invalid request since instance is not running" in google/services/sql/sql_utils.go). Neither is retried: the
// provider retries only common transient codes and operationInProgress (resource_sql_user.go,
// resource_sql_database.go), and the instance's create takes no lock they wait on.
func refuseSQLChildWithoutInstance(c cloud, o *operation) error {
	project, instance := o.project(), o.str("instance")
	state, _ := c.find("gcp:sql/databaseInstance:DatabaseInstance", func(h held) bool {
		return h.str("name") == instance && h.project(o.config) == project
	})
	switch state {
	case up:
		return nil
	case provisioning:
		return fmt.Errorf("%s%s", createErrorPrefix(o),
			googleapiError(400, "Invalid request: Invalid request since instance is not running.", "invalid"))
	}
	return fmt.Errorf("%s%s", createErrorPrefix(o),
		googleapiError(404, "The Cloud SQL instance does not exist.", "instanceDoesNotExist"))
}

// A Cloud SQL instance with a private IP on a network that has no private services connection
// yet: 400 "Incorrect Service Networking config for instance: <project>:<instance>:NETWORK_NOT_PEERED."
// (the text as Cloud SQL answered it for a network without the connection:
// terraform-google-modules/terraform-google-sql-db#281; the reason code after the instance names
// what is wrong with the network, e.g. NETWORK_PEERING_DELETED in opstrace/opstrace#293). Cloud SQL
// docs, "Learn about using private IP" (cloud.google.com/sql/docs/postgres/private-ip): "Configuring
// a Cloud SQL instance to use private IP requires private services access"; the SDK's private-IP
// example of sql.DatabaseInstance makes the instance depend on the servicenetworking.Connection
// for this reason.
func refusePrivateIPWithoutConnection(c cloud, o *operation) error {
	network := o.str("settings.ipConfiguration.privateNetwork")
	if network == "" {
		return nil
	}
	state, _ := c.find("gcp:servicenetworking/connection:Connection", func(h held) bool {
		return h.str("network") == network && h.str("service") == "servicenetworking.googleapis.com"
	})
	if state == up {
		return nil
	}
	message := fmt.Sprintf("Invalid request: Incorrect Service Networking config for instance: %s:%s:"+
		"NETWORK_NOT_PEERED.", o.project(), o.str("name"))
	return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(400, message, "invalid"))
}
