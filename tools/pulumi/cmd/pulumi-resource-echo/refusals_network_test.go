package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	testNetwork   = "projects/acme-data-123/global/networks/network-1a2b3c4"
	connectionURN = "urn:pulumi:dev::kestra-gcp::kestra-gcp:infra:GkeNetwork$gcp:servicenetworking/connection:Connection::private-services"
	instanceURN   = "urn:pulumi:dev::kestra-gcp::kestra-gcp:infra:CloudSql$gcp:sql/databaseInstance:DatabaseInstance::instance"
)

func newEchoCloud(t *testing.T) (*echoProvider, string) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(storeEnvVar, dir)
	t.Setenv(logEnvVar, "")
	t.Setenv(provisioningEnvVar, "0")
	t.Setenv(enforcedConstraintsEnvVar, "")
	t.Setenv(enablementEnvVar, "")
	p := newProvider("gcp", "10.2.0")
	p.config["project"] = testProject
	p.config["region"] = "europe-west2"
	// These models sit behind the APIs the stack enables first (refusals.go: SERVICE_DISABLED).
	enable(t, p, "compute.googleapis.com", "servicenetworking.googleapis.com", "sqladmin.googleapis.com")
	return p, dir
}

func createAt(t *testing.T, p *echoProvider, urn string, inputs map[string]any) (string, resource.PropertyMap, error) {
	t.Helper()
	props, err := p.marshal(resource.NewPropertyMapFromMap(inputs), "test")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: urn, Properties: props})
	if err != nil {
		return "", nil, err
	}
	outs, err := p.unmarshal(resp.GetProperties(), "test")
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetId(), outs, nil
}

func mustCreateAt(t *testing.T, p *echoProvider, urn string, inputs map[string]any) (string, resource.PropertyMap) {
	t.Helper()
	id, outs, err := createAt(t, p, urn, inputs)
	if err != nil {
		t.Fatalf("create %s: %v", urn, err)
	}
	return id, outs
}

func del(t *testing.T, p *echoProvider, urn, id string, outs resource.PropertyMap) error {
	t.Helper()
	props, err := p.marshal(outs, "test")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: urn, Id: id, Properties: props})
	return err
}

func connection(policy string) map[string]any {
	inputs := map[string]any{
		"network": testNetwork, "service": "servicenetworking.googleapis.com",
		"reservedPeeringRanges": []any{"private-services-range-1a2b3c4"},
	}
	if policy != "" {
		inputs["deletionPolicy"] = policy
	}
	return inputs
}

// A Cloud SQL instance with a private IP on the network, then deleted: Cloud SQL holds the
// connection for up to four days.
func deleteInstanceOnTheNetwork(t *testing.T, p *echoProvider) {
	t.Helper()
	id, outs := mustCreateAt(t, p, instanceURN, map[string]any{
		"name": "instance-1a2b3c4", "project": "acme-data-123", "region": "europe-west2",
		"databaseVersion": "POSTGRES_17",
		"settings": map[string]any{"tier": "db-custom-1-3840", "ipConfiguration": map[string]any{
			"ipv4Enabled": false, "privateNetwork": testNetwork}},
	})
	if err := del(t, p, instanceURN, id, outs); err != nil {
		t.Fatalf("deleting the instance: %v", err)
	}
}

func liveURNs(t *testing.T, typ string) []string {
	var urns []string
	for _, doc := range liveDocs(typ) {
		urns = append(urns, doc.URN)
	}
	return urns
}

func TestDeletingTheConnectionWhileCloudSQLHoldsItIsRefusedWithTheProvidersError(t *testing.T) {
	for _, policy := range []string{"", "DELETE"} {
		p, _ := newEchoCloud(t)
		id, outs := mustCreateAt(t, p, connectionURN, connection(policy))
		deleteInstanceOnTheNetwork(t, p)
		err := del(t, p, connectionURN, id, outs)
		if err == nil || !strings.Contains(err.Error(), "Failed to delete connection; Producer services (e.g. CloudSQL, "+
			"Cloud Memstore, etc.) are still using this connection.") {
			t.Fatalf("policy %q: deleting the connection answered %v", policy, err)
		}
		if got := liveURNs(t, connectionType); len(got) != 1 {
			t.Fatalf("policy %q: the refused connection must stay in the cloud, got %v", policy, got)
		}
	}
}

func TestRemovePeeringEndsTheConnectionEvenWhileCloudSQLHoldsIt(t *testing.T) {
	p, _ := newEchoCloud(t)
	id, outs := mustCreateAt(t, p, connectionURN, connection("REMOVE_PEERING"))
	deleteInstanceOnTheNetwork(t, p)
	if err := del(t, p, connectionURN, id, outs); err != nil {
		t.Fatalf("REMOVE_PEERING: %v", err)
	}
	if got := liveURNs(t, connectionType); len(got) != 0 {
		t.Fatalf("the peering must be gone, got %v", got)
	}
}

func TestTheHoldEndsAfterFourDays(t *testing.T) {
	p, _ := newEchoCloud(t)
	id, outs := mustCreateAt(t, p, connectionURN, connection(""))
	deleteInstanceOnTheNetwork(t, p)
	defer func(now func() time.Time) { echoNow = now }(echoNow)
	start := time.Now()
	echoNow = func() time.Time { return start.Add(cloudSQLHold - time.Minute) }
	if err := del(t, p, connectionURN, id, outs); err == nil {
		t.Fatal("still within the hold: the delete must be refused")
	}
	echoNow = func() time.Time { return start.Add(cloudSQLHold + time.Minute) }
	if err := del(t, p, connectionURN, id, outs); err != nil {
		t.Fatalf("past the hold: %v", err)
	}
}

func TestAConnectionOnAnotherNetworkIsNotHeld(t *testing.T) {
	p, _ := newEchoCloud(t)
	inputs := connection("")
	inputs["network"] = "projects/acme-data-123/global/networks/other"
	id, outs := mustCreateAt(t, p, connectionURN, inputs)
	// The instance needs its own network's connection (refusals.go: NETWORK_NOT_PEERED).
	mustCreateAt(t, p, connectionURN+"-instance-network", connection(""))
	deleteInstanceOnTheNetwork(t, p)
	if err := del(t, p, connectionURN, id, outs); err != nil {
		t.Fatalf("no instance was on that network: %v", err)
	}
}

func TestAbandonLeavesTheConnectionInTheCloud(t *testing.T) {
	p, _ := newEchoCloud(t)
	id, outs := mustCreateAt(t, p, connectionURN, connection("ABANDON"))
	deleteInstanceOnTheNetwork(t, p)
	if err := del(t, p, connectionURN, id, outs); err != nil {
		t.Fatalf("ABANDON: %v", err)
	}
	if got := liveURNs(t, connectionType); len(got) != 1 {
		t.Fatalf("an abandoned connection stays, got %v", got)
	}
}

// seedConnection puts a connection made outside the stack on a network, as an existing project has.
func seedConnection(t *testing.T, dir, network string, ranges ...string) string {
	t.Helper()
	doc, _ := json.Marshal(map[string]any{
		"urn": "urn:pulumi:other::other::gcp:servicenetworking/connection:Connection::existing", "type": connectionType,
		"provider": "gcp", "id": network + ":servicenetworking.googleapis.com",
		"outputs": map[string]any{"network": network, "service": "servicenetworking.googleapis.com",
			"reservedPeeringRanges": ranges, "peering": serviceNetworkingPeering},
	})
	path := filepath.Join(dir, "existing-connection.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func rangesIn(t *testing.T, path string) []any {
	t.Helper()
	var doc struct {
		Outputs map[string]any `json:"outputs"`
	}
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	ranges, _ := doc.Outputs["reservedPeeringRanges"].([]any)
	return ranges
}

func TestASecondConnectionOnANetworkIsRefusedWithoutUpdateOnCreationFail(t *testing.T) {
	p, dir := newEchoCloud(t)
	seedConnection(t, dir, testNetwork, "google-managed-services-default")
	_, _, err := createAt(t, p, connectionURN, connection("ABANDON"))
	if err == nil || !strings.Contains(err.Error(), "Cannot modify allocated ranges in CreateConnection.") {
		t.Fatalf("create on a network with a connection answered %v", err)
	}
}

func TestUpdateOnCreationFailReplacesTheRangesTheConnectionHeld(t *testing.T) {
	p, dir := newEchoCloud(t)
	existing := seedConnection(t, dir, testNetwork, "google-managed-services-default")
	inputs := connection("ABANDON")
	inputs["updateOnCreationFail"] = true
	mustCreateAt(t, p, connectionURN, inputs)
	if got := rangesIn(t, existing); len(got) != 1 || got[0] != "private-services-range-1a2b3c4" {
		t.Fatalf("the patch (Force) leaves only this resource's ranges, got %v", got)
	}
	inputs["reservedPeeringRanges"] = []any{"google-managed-services-default", "private-services-range-1a2b3c4"}
	mustCreateAt(t, p, connectionURN+"-kept", inputs)
	if got := rangesIn(t, existing); len(got) != 2 || got[0] != "google-managed-services-default" {
		t.Fatalf("listing the held ranges keeps them, got %v", got)
	}
}

func invoke(t *testing.T, p *echoProvider, tok string, args map[string]any) (resource.PropertyMap, string) {
	t.Helper()
	props, _ := p.marshal(resource.NewPropertyMapFromMap(args), "test")
	resp, err := p.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: tok, Args: props})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFailures()) > 0 {
		return nil, resp.GetFailures()[0].GetReason()
	}
	ret, _ := p.unmarshal(resp.GetReturn(), "test")
	return ret, ""
}

func TestGetNetworkAnswersNotFoundAsTheProviderDoes(t *testing.T) {
	p, _ := newEchoCloud(t)
	if _, failure := invoke(t, p, "gcp:compute/getNetwork:getNetwork", map[string]any{"name": "missing", "project": "acme-data-123"}); failure != "projects/acme-data-123/global/networks/missing not found" {
		t.Fatalf("a missing network: %q", failure)
	}
	got, failure := invoke(t, p, "gcp:compute/getNetwork:getNetwork", map[string]any{"name": "default", "project": "acme-data-123"})
	if failure != "" || got["id"].StringValue() != "projects/acme-data-123/global/networks/default" {
		t.Fatalf("a new project's default network: %v %q", got, failure)
	}
}

func TestGetNetworkPeeringSeesServiceNetworkingsPeeringWhileAConnectionIsThere(t *testing.T) {
	p, dir := newEchoCloud(t)
	args := map[string]any{"network": testNetwork, "name": serviceNetworkingPeering}
	if got, _ := invoke(t, p, "gcp:compute/getNetworkPeering:getNetworkPeering", args); got["state"].HasValue() {
		t.Fatalf("no connection, no peering: %v", got)
	}
	seedConnection(t, dir, testNetwork, "google-managed-services-default")
	if got, _ := invoke(t, p, "gcp:compute/getNetworkPeering:getNetworkPeering", args); got["state"].StringValue() != "ACTIVE" {
		t.Fatalf("the connection's peering: %v", got)
	}
}

func TestGetZonesListsThePublishedZonesOfTheRegionOnly(t *testing.T) {
	p, _ := newEchoCloud(t)
	got, _ := invoke(t, p, "gcp:compute/getZones:getZones", map[string]any{"region": "europe-west1", "project": "acme-data-123"})
	var names []string
	for _, n := range got["names"].ArrayValue() {
		names = append(names, n.StringValue())
	}
	if strings.Join(names, ",") != "europe-west1-b,europe-west1-c,europe-west1-d" {
		t.Fatalf("europe-west1: %v", names)
	}
	got, _ = invoke(t, p, "gcp:compute/getZones:getZones", map[string]any{"region": "europe-west99", "project": "acme-data-123"})
	if len(got["names"].ArrayValue()) != 0 {
		t.Fatalf("no such region: %v", got["names"])
	}
}

func TestAGetReadsTheConnectionTheNetworkHolds(t *testing.T) {
	p, dir := newEchoCloud(t)
	urn := "urn:pulumi:dev::kestra-gcp::kestra-gcp:infra:GkeNetwork$gcp:servicenetworking/connection:Connection::held-private-services"
	id := testNetwork + ":servicenetworking.googleapis.com"
	resp, err := p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: urn, Id: id})
	if err != nil || resp.GetId() != "" {
		t.Fatalf("no connection yet: %v %v", resp, err)
	}
	seedConnection(t, dir, testNetwork, "google-managed-services-default")
	resp, err = p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: urn, Id: id})
	if err != nil || resp.GetId() != id {
		t.Fatalf("the seeded connection: %v %v", resp, err)
	}
	props, _ := p.unmarshal(resp.GetProperties(), "test")
	if r := props["reservedPeeringRanges"].ArrayValue(); len(r) != 1 || r[0].StringValue() != "google-managed-services-default" {
		t.Fatalf("its ranges: %v", props)
	}
}
