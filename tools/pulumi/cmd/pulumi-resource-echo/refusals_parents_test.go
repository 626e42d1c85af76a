package main

// Each refusal of refusals_parents.go, through the plugin's own Create: a create whose parent is
// absent or still being created is refused with the provider's message, and accepted once the
// parent's create has ended.

import (
	"testing"
)

func TestASubscriptionIsRefusedUntilItsTopicsCreateHasEnded(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "pubsub.googleapis.com")
	sub := map[string]any{"name": "file-upload-sub", "project": testProject,
		"topic": "projects/" + testProject + "/topics/file-upload-events"}
	want := "Error creating Subscription: googleapi: Error 404: Resource not found (resource=file-upload-events)., notFound"
	refused(t, create(p, subscriptionType, "subscription", sub), want)
	done := startSlow(t, p, topicType, "topic", map[string]any{"name": "file-upload-events", "project": testProject})
	refused(t, create(p, subscriptionType, "subscription", sub), want)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, subscriptionType, "subscription", sub)
	// A topic of the same name in another project is another topic.
	sub["topic"] = "projects/other-project/topics/file-upload-events"
	refused(t, create(p, subscriptionType, "subscription-2", sub), "Error 404: Resource not found")
}

func TestTheDisabledAPIIsAnsweredBeforeTheMissingParent(t *testing.T) {
	p := gcpCloud(t, 0)
	refused(t, create(p, subscriptionType, "subscription", map[string]any{
		"name": "file-upload-sub", "project": testProject, "topic": "file-upload-events"}),
		"Error creating Subscription: googleapi: Error 403: Cloud Pub/Sub API has not been used in project")
}

func TestAGrantIsRefusedUntilTheResourceItIsOnHasBeenCreated(t *testing.T) {
	member := "serviceAccount:kestra-sa@" + testProject + ".iam.gserviceaccount.com"
	for _, c := range []struct {
		name, typ, api string
		grant          map[string]any
		parentTyp      string
		parent         map[string]any
		want           string
	}{
		{
			"dataset", "gcp:bigquery/datasetIamMember:DatasetIamMember", "bigquery.googleapis.com",
			map[string]any{"project": testProject, "datasetId": "raw", "role": "roles/bigquery.dataEditor", "member": member},
			datasetType, map[string]any{"project": testProject, "datasetId": "raw", "location": "europe-west2"},
			"Error retrieving IAM policy for Bigquery Dataset " + testProject + "/raw: googleapi: Error 404: Not found: " +
				"Dataset " + testProject + ":raw, notFound",
		},
		{
			"bucket", "gcp:storage/bucketIAMMember:BucketIAMMember", "storage.googleapis.com",
			map[string]any{"bucket": testProject + "-kestra", "role": "roles/storage.objectAdmin", "member": member},
			bucketType, bucket(),
			`Error retrieving IAM policy for storage bucket "b/` + testProject + `-kestra": googleapi: Error 404: ` +
				"The specified bucket does not exist., notFound",
		},
		{
			"subscription", "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "pubsub.googleapis.com",
			map[string]any{"project": testProject, "subscription": "projects/" + testProject + "/subscriptions/file-upload-sub",
				"role": "roles/pubsub.subscriber", "member": member},
			subscriptionType, map[string]any{"name": "file-upload-sub", "project": testProject, "topic": "file-upload-events"},
			`Error retrieving IAM policy for pubsub subscription "projects/` + testProject + `/subscriptions/file-upload-sub": ` +
				"googleapi: Error 404: Resource not found (resource=file-upload-sub)., notFound",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := gcpCloud(t, 300)
			enable(t, p, c.api, "iam.googleapis.com")
			mustCreate(t, p, accountType, "service-account", map[string]any{"project": testProject, "accountId": "kestra-sa"})
			if c.parentTyp == subscriptionType {
				mustCreate(t, p, topicType, "topic", map[string]any{"name": "file-upload-events", "project": testProject})
			}
			refused(t, create(p, c.typ, "grant", c.grant), c.want)
			done := startSlow(t, p, c.parentTyp, "parent", c.parent)
			refused(t, create(p, c.typ, "grant", c.grant), c.want)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mustCreate(t, p, c.typ, "grant", c.grant)
		})
	}
}

func TestAGrantToAServiceAccountIsRefusedUntilTheAccountsCreateHasEnded(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "iam.googleapis.com", "storage.googleapis.com")
	email := "kestra-sa@" + testProject + ".iam.gserviceaccount.com"
	grant := map[string]any{"project": testProject, "role": "roles/bigquery.jobUser", "member": "serviceAccount:" + email}
	request := "Create IAM Members roles/bigquery.jobUser serviceAccount:" + email + ` for project "` + testProject + `"`
	want := "Request `" + request + "` returned error: Batch request and retried single request \"" +
		`Create IAM Members roles/bigquery.jobUser serviceAccount:` + email + ` for project \"` + testProject + `\"" ` +
		`both failed. Final error: Error applying IAM policy for project "` + testProject + `": Error setting IAM policy ` +
		`for project "` + testProject + `": googleapi: Error 400: Service account ` + email + " does not exist., badRequest"
	refused(t, create(p, "gcp:projects/iAMMember:IAMMember", "grant", grant), want)
	done := startSlow(t, p, accountType, "service-account", map[string]any{"project": testProject, "accountId": "kestra-sa"})
	refused(t, create(p, "gcp:projects/iAMMember:IAMMember", "grant", grant), want) // not yet seen by IAM
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "gcp:projects/iAMMember:IAMMember", "grant", grant)

	// On a bucket: the bucket is read first, then the member is judged.
	mustCreate(t, p, bucketType, "bucket", bucket())
	other := "serviceAccount:other@" + testProject + ".iam.gserviceaccount.com"
	refused(t, create(p, "gcp:storage/bucketIAMMember:BucketIAMMember", "bucket-grant", map[string]any{
		"bucket": testProject + "-kestra", "role": "roles/storage.objectAdmin", "member": other}),
		`Error applying IAM policy for storage bucket "b/`+testProject+`-kestra": Error setting IAM policy for storage `+
			`bucket "b/`+testProject+`-kestra": googleapi: Error 400: Service account other@`+testProject+
			".iam.gserviceaccount.com does not exist., badRequest")
	// Google's service agents are no accounts of the project's: not judged.
	mustCreate(t, p, "gcp:projects/iAMMember:IAMMember", "agent", map[string]any{"project": testProject,
		"role": "roles/pubsub.publisher", "member": "serviceAccount:service-" + projectNumberOf(testProject) +
			"@gs-project-accounts.iam.gserviceaccount.com"})
}

func TestANotificationIsRefusedUntilItsBucketsCreateHasEnded(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "storage.googleapis.com", "pubsub.googleapis.com")
	notification := map[string]any{"bucket": testProject + "-kestra",
		"topic": "projects/" + testProject + "/topics/file-upload-events", "payloadFormat": "JSON_API_V1"}
	want := "Error creating notification config for bucket " + testProject + "-kestra: googleapi: Error 404: " +
		"The specified bucket does not exist., notFound"
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want)
	done := startSlow(t, p, bucketType, "bucket", bucket())
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// With the bucket there, the topic and the publisher grant are judged (refusals.go).
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), "Error 403: The service account")
}

func TestANamespacedObjectIsRefusedUntilItsNamespacesCreateHasEnded(t *testing.T) {
	gcpCloud(t, 300) // the echo cloud and its provisioning delay
	p := newProvider("kubernetes", "0.0.0-test")
	secret := map[string]any{"metadata": map[string]any{"name": "secret-env", "namespace": "kestra"}, "type": "Opaque"}
	urn := "urn:pulumi:dev::kestra-gcp::kubernetes:core/v1:Secret::secret-env"
	want := `resource "` + urn + `" was not successfully created by the Kubernetes API server: namespaces "kestra" not found`
	refused(t, create(p, "kubernetes:core/v1:Secret", "secret-env", secret), want)
	done := startSlow(t, p, namespaceType, "namespace", map[string]any{"metadata": map[string]any{"name": "kestra"}})
	refused(t, create(p, "kubernetes:core/v1:Secret", "secret-env", secret), want)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "kubernetes:core/v1:Secret", "secret-env", secret)
	// A cluster-scoped object has no namespace to wait for.
	mustCreate(t, p, namespaceType, "other", map[string]any{"metadata": map[string]any{"name": "other"}})
}

func TestAGrantOnAServiceAccountIsRefusedUntilTheAccountsCreateHasEnded(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "iam.googleapis.com")
	account := "projects/" + testProject + "/serviceAccounts/kestra-sa@" + testProject + ".iam.gserviceaccount.com"
	binding := map[string]any{"serviceAccountId": account, "role": "roles/iam.workloadIdentityUser",
		"member": "serviceAccount:" + testProject + ".svc.id.goog[kestra/kestra]"}
	want := "Error retrieving IAM policy for service account '" + account + "': googleapi: Error 404: " +
		"Unknown service account, notFound"
	refused(t, create(p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding), want)
	done := startSlow(t, p, accountType, "service-account", map[string]any{"project": testProject, "accountId": "kestra-sa"})
	refused(t, create(p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding), want)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The account is there: now the member's pool is judged (refusals.go).
	refused(t, create(p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding),
		"Error 400: Identity Pool does not exist ("+testProject+".svc.id.goog)")
}
