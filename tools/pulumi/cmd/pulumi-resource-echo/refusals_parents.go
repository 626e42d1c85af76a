package main

// What Google and a Kubernetes API server answer a create whose parent is not there yet: a
// subscription on a topic, a grant on a dataset, bucket or subscription, a grant to a service
// account, a notification on a bucket, a namespaced object in its namespace. Each is an ordering
// edge of the stack (an output passed as an input, or a depends_on); these refusals are what make
// the edge's removal fail a first `up` on the echo plugins (tests/engine/test_ordering_mutants.py).
//
// The parents' creates are slow here (slowTypes), so that a dependent created alongside meets its
// parent still being created, as it would on Google's side, where the create is a request that takes
// its time; and a new service account is not seen by the rest of IAM at once: terraform-provider-
// google polls after creating one "due to eventual consistency issue on part of the api
// https://cloud.google.com/iam/docs/overview#consistency"
// (google/services/resourcemanager/resource_google_service_account.go, resourceGoogleServiceAccountCreate,
// transport_tpg.PollingWaitTime). A parent still provisioning is answered as absent.

import (
	"fmt"
	"strings"
)

const (
	topicType        = "gcp:pubsub/topic:Topic"
	subscriptionType = "gcp:pubsub/subscription:Subscription"
	bucketType       = "gcp:storage/bucket:Bucket"
	datasetType      = "gcp:bigquery/dataset:Dataset"
	accountType      = "gcp:serviceaccount/account:Account"
	namespaceType    = "kubernetes:core/v1:Namespace"
)

// The grants that name a member: every fine-grained IAM member type of the stack.
var memberTypes = []string{
	"gcp:projects/iAMMember:IAMMember",
	"gcp:bigquery/datasetIamMember:DatasetIamMember",
	"gcp:storage/bucketIAMMember:BucketIAMMember",
	"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
	"gcp:pubsub/topicIAMMember:TopicIAMMember",
	"gcp:serviceaccount/iAMMember:IAMMember",
}

// The namespaced Kubernetes objects of the stack (the Helm release creates its namespace's objects
// through Helm and is judged by what Helm does, not here).
var namespacedTypes = []string{
	"kubernetes:core/v1:Secret",
	"kubernetes:core/v1:ConfigMap",
	"kubernetes:core/v1:Service",
	"kubernetes:networking.k8s.io/v1:Ingress",
	"kubernetes:cloud.google.com/v1:BackendConfig",
}

func init() {
	slowTypes = append(slowTypes, topicType, subscriptionType, bucketType, datasetType, accountType, namespaceType)
	// Order matters where one create could be refused twice: the provider reads the resource's IAM
	// policy before it writes one with the new member (tpgiamresource/iam.go,
	// iamPolicyReadModifyWrite), so a missing resource is answered before a missing member.
	mine := []refusal{
		{op: "create", types: []string{"gcp:storage/notification:Notification"}, check: refuseNotificationWithoutBucket},
		{op: "create", types: []string{subscriptionType}, check: refuseSubscriptionWithoutTopic},
		{op: "create", types: []string{"gcp:bigquery/datasetIamMember:DatasetIamMember"}, check: refuseGrantWithoutDataset},
		{op: "create", types: []string{"gcp:storage/bucketIAMMember:BucketIAMMember"}, check: refuseGrantWithoutBucket},
		{op: "create", types: []string{"gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"}, check: refuseGrantWithoutSubscription},
		{op: "create", types: []string{"gcp:serviceaccount/iAMMember:IAMMember"}, check: refuseGrantOnMissingAccount},
		{op: "create", types: namespacedTypes, check: refuseObjectWithoutNamespace},
		{op: "create", types: memberTypes, check: refuseGrantToMissingAccount},
	}
	// Right after the disabled-API refusal (refusals.go registers it first: a call to a disabled
	// API is refused before the API looks at anything) and before the others of refusals.go (the
	// notification's missing publisher is judged once its bucket is there).
	refusals = append(append(append([]refusal{}, refusals[0]), mine...), refusals[1:]...)
}

// isUp is whether a resource of the type matching the predicate has finished its create.
func (c cloud) isUp(typ string, match func(held) bool) bool {
	state, _ := c.find(typ, match)
	return state == up
}

// qualified is a Pub/Sub resource's relative name ("projects/<p>/<kind>/<name>") from a name or an id.
func qualified(name, project, kind string) string {
	if strings.HasPrefix(name, "projects/") {
		return name
	}
	return fmt.Sprintf("projects/%s/%s/%s", project, kind, name)
}

// A subscription on a topic that does not exist: Pub/Sub answers 404 "Resource not found
// (resource=<topic>)." and the provider reports it as "Error creating Subscription: ..."
// (hashicorp/terraform#24519, hashicorp/terraform-provider-google#524 for a subscription created
// alongside its topic; googleapis/google-cloud-node#696 for the text).
func refuseSubscriptionWithoutTopic(c cloud, o *operation) error {
	topic := qualified(o.str("topic"), o.project(), "topics")
	if c.isUp(topicType, func(h held) bool { return qualified(h.str("name"), h.project(o.config), "topics") == topic }) {
		return nil
	}
	return fmt.Errorf("%s%s", createErrorPrefix(o),
		googleapiError(404, fmt.Sprintf("Resource not found (resource=%s).", lastSegment(topic)), "notFound"))
}

// A dataset grant on a dataset that does not exist: the provider reads the dataset to get its
// access list and BigQuery answers 404 "Not found: Dataset <project>:<dataset>"
// (google/services/bigquery/iam_bigquery_dataset.go, GetResourceIamPolicy: "Error retrieving IAM
// policy for %s", DescribeResource "Bigquery Dataset <project>/<dataset>").
func refuseGrantWithoutDataset(c cloud, o *operation) error {
	project, dataset := o.project(), o.str("datasetId")
	if c.isUp(datasetType, func(h held) bool { return h.str("datasetId") == dataset && h.project(o.config) == project }) {
		return nil
	}
	return fmt.Errorf("Error retrieving IAM policy for Bigquery Dataset %s/%s: %s", project, dataset,
		googleapiError(404, fmt.Sprintf("Not found: Dataset %s:%s", project, dataset), "notFound"))
}

// bucketMissing is GCS's answer for a bucket it does not have (JSON API, 404 notFound).
func bucketMissing() string {
	return googleapiError(404, "The specified bucket does not exist.", "notFound")
}

func (c cloud) bucketUp(name string) bool {
	return c.isUp(bucketType, func(h held) bool { return h.str("name") == name })
}

// A bucket grant on a bucket that does not exist: the provider's getIamPolicy of b/<bucket>
// answers 404 (google/services/storage/iam_storage_bucket.go, GetResourceIamPolicy, DescribeResource
// `storage bucket "b/<bucket>"`).
func refuseGrantWithoutBucket(c cloud, o *operation) error {
	if name := o.str("bucket"); !c.bucketUp(name) {
		return fmt.Errorf("Error retrieving IAM policy for storage bucket %q: %s", "b/"+name, bucketMissing())
	}
	return nil
}

// A notification on a bucket that does not exist: notificationConfigs.insert on b/<bucket>
// answers 404 before the topic is looked at (resource_storage_notification.go: "Error creating
// notification config for bucket %s: %s").
func refuseNotificationWithoutBucket(c cloud, o *operation) error {
	if !c.bucketUp(o.str("bucket")) {
		return fmt.Errorf("%s%s", createErrorPrefix(o), bucketMissing())
	}
	return nil
}

// A subscription grant on a subscription that does not exist: Pub/Sub's getIamPolicy answers 404
// (google/services/pubsub/iam_pubsub_subscription.go, DescribeResource `pubsub subscription "<name>"`).
func refuseGrantWithoutSubscription(c cloud, o *operation) error {
	sub := qualified(o.str("subscription"), o.project(), "subscriptions")
	if c.isUp(subscriptionType, func(h held) bool {
		return qualified(h.str("name"), h.project(o.config), "subscriptions") == sub
	}) {
		return nil
	}
	return fmt.Errorf("Error retrieving IAM policy for pubsub subscription %q: %s", sub,
		googleapiError(404, fmt.Sprintf("Resource not found (resource=%s).", lastSegment(sub)), "notFound"))
}

// A grant on a service account that IAM does not know (yet): the provider's getIamPolicy of the
// account answers 404 "Unknown service account" (pulumi/pulumi-google-native#836, a Workload
// Identity binding on an account IAM did not find), wrapped by
// google/services/resourcemanager/iam_service_account.go (GetResourceIamPolicy: "Error retrieving
// IAM policy for %s", DescribeResource "service account '<id>'"). Judged before the members, and
// before a Workload Identity member's pool (refusals.go), which only setIamPolicy checks.
func refuseGrantOnMissingAccount(c cloud, o *operation) error {
	id := o.str("serviceAccountId") // projects/<p>/serviceAccounts/<email>, or the email
	if c.isUp(accountType, func(h held) bool { return h.str("name") == id || h.str("email") == lastSegment(id) }) {
		return nil
	}
	return fmt.Errorf("Error retrieving IAM policy for service account '%s': %s", id,
		googleapiError(404, "Unknown service account", "notFound"))
}

// A grant to a user-managed service account of the project that IAM does not know (yet): setIamPolicy
// answers 400 "Service account <email> does not exist." (GoogleCloudPlatform/genai-for-marketing#139,
// Liscor/terraform_dataform_ga4_pipeline#1), which the provider retries only when the policy changed
// meanwhile (tpgiamresource/iam.go, IamServiceAccountNotFound). Project grants go through the
// provider's IAM batcher, whose failure names the request
// (transport/batcher.go; the text as in genai-for-marketing#139). Only accounts of the grant's own
// project (<id>@<project>.iam.gserviceaccount.com) are judged: Google's service agents and Workload
// Identity members are not accounts the stack creates.
func refuseGrantToMissingAccount(c cloud, o *operation) error {
	email, ok := strings.CutPrefix(o.str("member"), "serviceAccount:")
	project := o.project()
	if !ok || !strings.HasSuffix(email, "@"+project+".iam.gserviceaccount.com") {
		return nil
	}
	if c.isUp(accountType, func(h held) bool { return h.str("email") == email }) {
		return nil
	}
	answer := googleapiError(400, fmt.Sprintf("Service account %s does not exist.", email), "badRequest")
	var described string
	switch o.typ {
	case "gcp:projects/iAMMember:IAMMember":
		described = fmt.Sprintf("project %q", project)
		request := fmt.Sprintf("Create IAM Members %s %s for %s", o.str("role"), o.str("member"), described)
		return fmt.Errorf("Request `%s` returned error: Batch request and retried single request %q both failed. "+
			"Final error: Error applying IAM policy for %s: Error setting IAM policy for %s: %s",
			request, request, described, described, answer)
	case "gcp:bigquery/datasetIamMember:DatasetIamMember":
		// SetResourceIamPolicy patches the dataset's access list: "Error creating DatasetAccess: %s".
		return fmt.Errorf("Error applying IAM policy for Bigquery Dataset %s/%s: Error creating DatasetAccess: %s",
			project, o.str("datasetId"), answer)
	case "gcp:storage/bucketIAMMember:BucketIAMMember":
		described = fmt.Sprintf("storage bucket %q", "b/"+o.str("bucket"))
	case "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember":
		described = fmt.Sprintf("pubsub subscription %q", qualified(o.str("subscription"), project, "subscriptions"))
	case "gcp:pubsub/topicIAMMember:TopicIAMMember":
		described = fmt.Sprintf("pubsub topic %q", qualified(o.str("topic"), project, "topics"))
	default: // serviceaccount IAMMember
		described = fmt.Sprintf("service account '%s'", o.str("serviceAccountId"))
	}
	return fmt.Errorf("Error applying IAM policy for %s: Error setting IAM policy for %s: %s", described, described, answer)
}

// A namespaced object in a namespace that does not exist (or whose create has not ended): the API
// server's NamespaceLifecycle admission plugin answers NotFound for the namespace
// (kubernetes/kubernetes, staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/
// admission.go, Admit: errors.NewNotFound(v1.Resource("namespaces"), namespace), whose text is
// `namespaces "<name>" not found`), and pulumi-kubernetes reports a failed create as
// `resource "<urn>" was not successfully created by the Kubernetes API server: <error>`
// (pulumi/pulumi-kubernetes, provider/pkg/provider/provider.go, Create).
func refuseObjectWithoutNamespace(c cloud, o *operation) error {
	namespace := o.str("metadata.namespace")
	if namespace == "" {
		return nil
	}
	if c.isUp(namespaceType, func(h held) bool { return h.str("metadata.name") == namespace }) {
		return nil
	}
	return fmt.Errorf("resource %q was not successfully created by the Kubernetes API server: namespaces %q not found",
		o.urn, namespace)
}
