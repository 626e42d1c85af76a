package main

// Each refusal of refusals.go, through the plugin's own Create: what GCP refuses, with the
// provider's message, and what it accepts once the resource it needs is up.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const testProject = "acme-data-123"

// gcpCloud is the echo gcp plugin with a fresh echo cloud, configured for testProject.
func gcpCloud(t *testing.T, delayMs int) *echoProvider {
	t.Helper()
	t.Setenv(storeEnvVar, t.TempDir())
	t.Setenv(provisioningEnvVar, fmt.Sprint(delayMs))
	t.Setenv(enforcedConstraintsEnvVar, "")
	t.Setenv(enablementEnvVar, "")
	p := newProvider("gcp", "0.0.0-test")
	p.config["project"] = testProject
	p.config["region"] = "europe-west2"
	return p
}

func create(p *echoProvider, typ, name string, inputs map[string]any) error {
	props, err := plugin.MarshalProperties(resource.NewPropertyMapFromMap(inputs), plugin.MarshalOptions{})
	if err != nil {
		return err
	}
	urn := fmt.Sprintf("urn:pulumi:dev::kestra-gcp::%s::%s", typ, name)
	_, err = p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: props})
	return err
}

func mustCreate(t *testing.T, p *echoProvider, typ, name string, inputs map[string]any) {
	t.Helper()
	if err := create(p, typ, name, inputs); err != nil {
		t.Fatalf("create %s %s: %v", typ, name, err)
	}
}

func enable(t *testing.T, p *echoProvider, apis ...string) {
	t.Helper()
	for _, api := range apis {
		mustCreate(t, p, "gcp:projects/service:Service", strings.Split(api, ".")[0],
			map[string]any{"project": testProject, "service": api})
	}
}

// refused asserts the create fails with an error containing every part.
func refused(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("created; want a refusal containing %q", parts)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Fatalf("refusal %q\ndoes not contain %q", err.Error(), part)
		}
	}
}

// startSlow starts a slow create in the background and returns once it is provisioning; the
// returned channel yields its result when it ends.
func startSlow(t *testing.T, p *echoProvider, typ, name string, inputs map[string]any) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- create(p, typ, name, inputs) }()
	c := cloud{p.storeDir()}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(c.provisioning(typ)) > 0 {
			return done
		}
	}
	t.Fatalf("%s %s never became provisioning", typ, name)
	return nil
}

func (p *echoProvider) storeDir() string {
	return filepath.Clean(os.Getenv(storeEnvVar))
}

func bucket() map[string]any {
	return map[string]any{"name": testProject + "-kestra", "project": testProject, "location": "EUROPE-WEST2"}
}

func cluster() map[string]any {
	return map[string]any{
		"name": "kestra-dev", "project": testProject, "location": "europe-west2-a",
		"workloadIdentityConfig": map[string]any{"workloadPool": testProject + ".svc.id.goog"},
	}
}

func instance() map[string]any {
	return map[string]any{
		"name": "instance-1a2b3c4", "project": testProject, "region": "europe-west2",
		"settings": map[string]any{"ipConfiguration": map[string]any{"ipv4Enabled": false}},
	}
}

func TestNothingIsRefusedWithoutAStore(t *testing.T) {
	p := gcpCloud(t, 0)
	t.Setenv(storeEnvVar, "")
	mustCreate(t, p, "gcp:storage/bucket:Bucket", "bucket", bucket())
}

func TestACreateBeforeItsAPIIsEnabledIsRefusedWithServiceDisabled(t *testing.T) {
	p := gcpCloud(t, 0)
	number := projectNumberOf(testProject)
	refused(t, create(p, "gcp:storage/bucket:Bucket", "bucket", bucket()),
		"Error creating Bucket: googleapi: Error 403: Cloud Storage API has not been used in project "+number+
			" before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/"+
			"storage.googleapis.com/overview?project="+number+" then retry.",
		`"reason": "SERVICE_DISABLED"`, "accessNotConfigured")
	enable(t, p, "pubsub.googleapis.com") // another API does not help
	refused(t, create(p, "gcp:storage/bucket:Bucket", "bucket", bucket()), "SERVICE_DISABLED")
	enable(t, p, "storage.googleapis.com")
	mustCreate(t, p, "gcp:storage/bucket:Bucket", "bucket", bucket())
}

func TestAnAPIIsNotEnabledUntilItsServiceCreateEnds(t *testing.T) {
	p := gcpCloud(t, 0)
	t.Setenv(enablementEnvVar, "300") // enabling an API may take longer than the other slow creates
	done := startSlow(t, p, "gcp:projects/service:Service", "storage",
		map[string]any{"project": testProject, "service": "storage.googleapis.com"})
	refused(t, create(p, "gcp:storage/bucket:Bucket", "bucket", bucket()), "Cloud Storage API has not been used")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "gcp:storage/bucket:Bucket", "bucket", bucket())
}

func TestEveryTypeOfTheStackThatCallsAnEnabledAPIIsMapped(t *testing.T) {
	for typ := range resources {
		if providerOf(typ) != "gcp" || strings.HasPrefix(typ, "gcp:projects/") {
			continue // Service Usage and Resource Manager: the stack does not enable them itself
		}
		if _, ok := apiOfType[typ]; !ok {
			t.Errorf("%s: no API in apiOfType", typ)
		}
	}
	for typ, api := range apiOfType {
		if apiTitles[api] == "" {
			t.Errorf("%s: API %s has no title", typ, api)
		}
	}
}

func TestAWorkloadIdentityMemberIsRefusedUntilAClusterMadeItsPool(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "iam.googleapis.com", "container.googleapis.com")
	mustCreate(t, p, accountType, "service-account", map[string]any{"project": testProject, "accountId": "kestra-sa"})
	account := fmt.Sprintf("projects/%s/serviceAccounts/kestra-sa@%s.iam.gserviceaccount.com", testProject, testProject)
	binding := map[string]any{
		"serviceAccountId": account, "role": "roles/iam.workloadIdentityUser",
		"member": "serviceAccount:" + testProject + ".svc.id.goog[kestra/kestra]",
	}
	want := []string{
		"Error applying IAM policy for service account '" + account + "': Error setting IAM policy for service account '" +
			account + "': googleapi: Error 400: Identity Pool does not exist (" + testProject + ".svc.id.goog).",
		"badRequest",
	}
	refused(t, create(p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding), want...)
	done := startSlow(t, p, "gcp:container/cluster:Cluster", "cluster", cluster())
	refused(t, create(p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding), want...)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "gcp:serviceaccount/iAMMember:IAMMember", "workload-identity", binding)
	// A member that is not of a Workload Identity pool needs no cluster.
	mustCreate(t, p, "gcp:serviceaccount/iAMMember:IAMMember", "user", map[string]any{
		"serviceAccountId": account, "role": "roles/iam.serviceAccountUser", "member": "user:ada@example.com"})
}

func TestAKeyIsRefusedWhereTheOrgPolicyDisablesKeyCreation(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "iam.googleapis.com")
	email := "kestra-sa@" + testProject + ".iam.gserviceaccount.com"
	key := map[string]any{"serviceAccountId": "projects/" + testProject + "/serviceAccounts/" + email}
	mustCreate(t, p, "gcp:serviceaccount/key:Key", "key", key)
	t.Setenv(enforcedConstraintsEnvVar, "compute.requireOsLogin,iam.disableServiceAccountKeyCreation")
	refused(t, create(p, "gcp:serviceaccount/key:Key", "key2", key),
		"Error creating service account key: googleapi: Error 400: Key creation is not allowed on this service account.",
		`"type": "constraints/iam.disableServiceAccountKeyCreation"`, "failedPrecondition")
}

func TestANotificationIsRefusedUntilTheStorageAgentMayPublishToTheTopic(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "storage.googleapis.com", "pubsub.googleapis.com")
	topic := "projects/" + testProject + "/topics/file-upload-events"
	notification := map[string]any{"bucket": testProject + "-kestra", "topic": topic, "payloadFormat": "JSON_API_V1"}
	agent := "service-" + projectNumberOf(testProject) + "@gs-project-accounts.iam.gserviceaccount.com"
	mustCreate(t, p, "gcp:storage/bucket:Bucket", "bucket", bucket())
	want := []string{
		"Error creating notification config for bucket " + testProject + "-kestra: googleapi: Error 403: The service " +
			"account '" + agent + "' does not have permission to publish messages to to the Cloud Pub/Sub topic " +
			"'//pubsub.googleapis.com/" + topic + "', or that topic does not exist., forbidden",
	}
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want...)
	mustCreate(t, p, "gcp:pubsub/topic:Topic", "topic", map[string]any{"name": "file-upload-events", "project": testProject})
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want...)
	// A grant to someone else, or of a role without pubsub.topics.publish, is not enough.
	mustCreate(t, p, "gcp:pubsub/topicIAMMember:TopicIAMMember", "other", map[string]any{
		"project": testProject, "topic": "file-upload-events", "role": "roles/pubsub.viewer", "member": "serviceAccount:" + agent})
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want...)
	grant := map[string]any{
		"project": testProject, "topic": "file-upload-events", "role": "roles/pubsub.publisher", "member": "serviceAccount:" + agent}
	t.Setenv(provisioningEnvVar, "300")
	done := startSlow(t, p, "gcp:pubsub/topicIAMMember:TopicIAMMember", "gcs-agent-publisher", grant)
	refused(t, create(p, "gcp:storage/notification:Notification", "n", notification), want...) // not yet in effect
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mustCreate(t, p, "gcp:storage/notification:Notification", "n", notification)
	// A grant of the role on the project serves as well.
	p = gcpCloud(t, 0)
	enable(t, p, "storage.googleapis.com", "pubsub.googleapis.com")
	mustCreate(t, p, "gcp:storage/bucket:Bucket", "bucket", bucket())
	mustCreate(t, p, "gcp:pubsub/topic:Topic", "topic", map[string]any{"name": "file-upload-events", "project": testProject})
	mustCreate(t, p, "gcp:projects/iAMMember:IAMMember", "publisher", map[string]any{
		"project": testProject, "role": "roles/pubsub.publisher", "member": "serviceAccount:" + agent})
	mustCreate(t, p, "gcp:storage/notification:Notification", "n", notification)
}

func TestANodePoolIsRefusedBeforeItsClusterExistsAndWaitsWhileItIsCreated(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "container.googleapis.com")
	pool := map[string]any{"project": testProject, "location": "europe-west2-a", "cluster": "kestra-dev", "name": "pool"}
	refused(t, create(p, "gcp:container/nodePool:NodePool", "node-pool", pool),
		"error creating NodePool: googleapi: Error 404: Not found: projects/"+testProject+
			"/locations/europe-west2-a/clusters/kestra-dev., notFound")
	done := startSlow(t, p, "gcp:container/cluster:Cluster", "cluster", cluster())
	mustCreate(t, p, "gcp:container/nodePool:NodePool", "node-pool", pool)
	select {
	case err := <-done: // the pool's create ended after the cluster's
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the node pool was created while its cluster was still being created")
	}
	// The cluster named by its id, as the provider also accepts it.
	pool["cluster"] = "projects/" + testProject + "/locations/europe-west2-a/clusters/kestra-dev"
	mustCreate(t, p, "gcp:container/nodePool:NodePool", "node-pool-2", pool)
}

func TestASQLUserOrDatabaseIsRefusedBeforeItsInstanceIsUp(t *testing.T) {
	for _, child := range []struct{ typ, prefix string }{
		{"gcp:sql/user:User", "Error, failed to insert user kestra into instance instance-1a2b3c4: "},
		{"gcp:sql/database:Database", "Error creating Database: "},
	} {
		t.Run(typeName(child.typ), func(t *testing.T) {
			p := gcpCloud(t, 300)
			enable(t, p, "sqladmin.googleapis.com")
			inputs := map[string]any{"project": testProject, "instance": "instance-1a2b3c4", "name": "kestra"}
			refused(t, create(p, child.typ, "child", inputs),
				child.prefix+"googleapi: Error 404: The Cloud SQL instance does not exist., instanceDoesNotExist")
			done := startSlow(t, p, "gcp:sql/databaseInstance:DatabaseInstance", "instance", instance())
			refused(t, create(p, child.typ, "child", inputs),
				child.prefix+"googleapi: Error 400: Invalid request: Invalid request since instance is not running., invalid")
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			mustCreate(t, p, child.typ, "child", inputs)
		})
	}
}

func TestAPrivateIPInstanceIsRefusedBeforeTheNetworksPrivateServicesConnection(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "sqladmin.googleapis.com", "servicenetworking.googleapis.com")
	network := "projects/" + testProject + "/global/networks/network-1234567"
	private := instance()
	private["settings"].(map[string]any)["ipConfiguration"].(map[string]any)["privateNetwork"] = network
	refused(t, create(p, "gcp:sql/databaseInstance:DatabaseInstance", "instance", private),
		"Error, failed to create instance instance-1a2b3c4: googleapi: Error 400: Invalid request: Incorrect Service "+
			"Networking config for instance: "+testProject+":instance-1a2b3c4:NETWORK_NOT_PEERED., invalid")
	mustCreate(t, p, "gcp:servicenetworking/connection:Connection", "private-services", map[string]any{
		"network": network, "service": "servicenetworking.googleapis.com", "reservedPeeringRanges": []any{"range"}})
	mustCreate(t, p, "gcp:sql/databaseInstance:DatabaseInstance", "instance", private)
	// An instance without a private IP needs no connection.
	mustCreate(t, p, "gcp:sql/databaseInstance:DatabaseInstance", "public", instance())
}
