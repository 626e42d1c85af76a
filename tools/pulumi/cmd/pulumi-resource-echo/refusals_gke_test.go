package main

// Each refusal of refusals_gke.go and Helm's wait of refusals_helm.go, through the plugins' own
// Create.

import (
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestTheNetworksChildrenAreRefusedUntilTheNetworkIsUp(t *testing.T) {
	p := gcpCloud(t, 300)
	enable(t, p, "compute.googleapis.com")
	missing := "googleapi: Error 404: The resource '" + testNetwork + "' was not found, notFound"
	children := []struct {
		typ    string
		inputs map[string]any
	}{
		{subnetworkType, map[string]any{"name": "subnet", "project": testProject, "region": "europe-west2", "network": testNetwork, "ipCidrRange": "10.20.0.0/20"}},
		{routerType, map[string]any{"name": "router", "project": testProject, "region": "europe-west2", "network": testNetwork}},
		{"gcp:compute/firewall:Firewall", map[string]any{"name": "firewall", "project": testProject, "network": testNetwork}},
		{"gcp:compute/globalAddress:GlobalAddress", map[string]any{"name": "range", "project": testProject, "network": testNetwork, "purpose": "VPC_PEERING"}},
	}
	for _, c := range children {
		refused(t, create(p, c.typ, "child", c.inputs), "Error creating "+typeName(c.typ)+": "+missing)
	}
	t.Setenv(slowTypesEnvVar, networkType+"=300")
	done := startSlow(t, p, networkType, "network", map[string]any{"name": "network-1a2b3c4", "project": testProject})
	refused(t, create(p, subnetworkType, "child", children[0].inputs), missing) // still being created
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, c := range children {
		mustCreate(t, p, c.typ, "child", c.inputs)
	}
	// The project's default network is there from the start; an external address names none.
	mustCreate(t, p, subnetworkType, "on-default", map[string]any{"name": "subnet-2", "project": testProject, "region": "europe-west2", "network": "default"})
	mustCreate(t, p, "gcp:compute/globalAddress:GlobalAddress", "external", map[string]any{"name": "external", "project": testProject})
}

func TestANatIsRefusedBeforeItsRouterExistsAndWaitsWhileItIsCreated(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "compute.googleapis.com")
	mustCreate(t, p, networkType, "network", map[string]any{"name": "network-1a2b3c4", "project": testProject})
	nat := map[string]any{"project": testProject, "region": "europe-west2", "router": "router-1234567", "name": "nat"}
	refused(t, create(p, routerNatType, "nat", nat),
		"googleapi: Error 404: The resource 'projects/"+testProject+"/regions/europe-west2/routers/router-1234567' was not found, notFound")
	if err := create(p, routerNatType, "nat", nat); strings.Contains(err.Error(), "Error creating") {
		t.Fatalf("the router's read error has no prefix: %v", err)
	}
	t.Setenv(slowTypesEnvVar, routerType+"=300")
	done := startSlow(t, p, routerType, "router", map[string]any{"name": "router-1234567", "project": testProject,
		"region": "europe-west2", "network": testNetwork})
	mustCreate(t, p, routerNatType, "nat", nat)
	select {
	case err := <-done: // the NAT's create ended after the router's: it waited on the router's lock
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the NAT was created while its router was still being created")
	}
}

func TestANatIsRefusedWhileASubnetItListsDoesNotExist(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "compute.googleapis.com")
	mustCreate(t, p, networkType, "network", map[string]any{"name": "network-1a2b3c4", "project": testProject})
	mustCreate(t, p, routerType, "router", map[string]any{"name": "router", "project": testProject, "region": "europe-west2", "network": testNetwork})
	subnet := "projects/" + testProject + "/regions/europe-west2/subnetworks/subnet"
	nat := map[string]any{"project": testProject, "region": "europe-west2", "router": "router", "name": "nat",
		"sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
		"subnetworks":                   []any{map[string]any{"name": subnet, "sourceIpRangesToNats": []any{"ALL_IP_RANGES"}}}}
	refused(t, create(p, routerNatType, "nat", nat), "Error creating RouterNat: googleapi: Error 400: Invalid value for "+
		"field 'resource.nats[0].subnetworks[0].name': '"+subnet+"'. The referenced subnetwork resource cannot be found., invalid")
	mustCreate(t, p, subnetworkType, "subnet", map[string]any{"name": "subnet", "project": testProject,
		"region": "europe-west2", "network": testNetwork})
	mustCreate(t, p, routerNatType, "nat", nat)
	// A NAT of all the region's subnets names none.
	mustCreate(t, p, routerNatType, "nat-all", map[string]any{"project": testProject, "region": "europe-west2",
		"router": "router", "name": "nat-all", "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES"})
}

func TestAClusterOrNodePoolIsRefusedWhileItsNodeAccountDoesNotExist(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "container.googleapis.com", "iam.googleapis.com")
	email := "kestra-dev-nodes@" + testProject + ".iam.gserviceaccount.com"
	withNodes := cluster()
	withNodes["nodeConfig"] = map[string]any{"serviceAccount": email}
	answer := `googleapi: Error 400: Service account "` + email + `" does not exist., badRequest`
	err := create(p, clusterType, "cluster", withNodes)
	refused(t, err, answer)
	if !strings.HasPrefix(err.Error(), "googleapi:") {
		t.Fatalf("the cluster's create reports the API's error as it is: %v", err)
	}
	mustCreate(t, p, clusterType, "cluster", cluster()) // no node account named: the default one
	pool := map[string]any{"project": testProject, "location": "europe-west2-a", "cluster": "kestra-dev", "name": "pool",
		"nodeConfig": map[string]any{"serviceAccount": email}}
	refused(t, create(p, nodePoolType, "node-pool", pool), "error creating NodePool: "+answer)
	mustCreate(t, p, accountType, "node-account", map[string]any{"project": testProject, "accountId": "kestra-dev-nodes"})
	mustCreate(t, p, nodePoolType, "node-pool", pool)
	mustCreate(t, p, clusterType, "cluster-2", withNodes)
}

// kubernetesOn is the echo kubernetes plugin with a provider for the echo cloud's cluster.
func kubernetesOn(clusterID string) *echoProvider {
	k := newProvider("kubernetes", "0.0.0-test")
	k.config["clusterIdentifier"] = clusterID
	return k
}

// aPrivateCluster creates a private cluster on subnet "subnet" of testNetwork (APIs enabled).
func aPrivateCluster(t *testing.T, p *echoProvider) string {
	t.Helper()
	enable(t, p, "container.googleapis.com", "compute.googleapis.com", "sqladmin.googleapis.com", "iam.googleapis.com")
	private := cluster()
	private["subnetwork"] = "projects/" + testProject + "/regions/europe-west2/subnetworks/subnet"
	private["privateClusterConfig"] = map[string]any{"enablePrivateNodes": true}
	mustCreate(t, p, clusterType, "cluster", private)
	return "projects/" + testProject + "/locations/europe-west2-a/clusters/kestra-dev"
}

func kestraRelease(host string) map[string]any {
	return map[string]any{"name": "kestra", "namespace": "kestra", "chart": "kestra", "timeout": 1200.0,
		"values": map[string]any{"configurations": map[string]any{"application": map[string]any{
			"datasources": map[string]any{"postgres": map[string]any{
				"url": "jdbc:postgresql://" + host + ":5432/kestra?sslmode=verify-ca", "username": "kestra"}}}}}}
}

// theReleaseTimesOut asserts Helm's wait failed as pulumi-kubernetes reports it, with the release
// created (a partial failure: its id in the error's details).
func theReleaseTimesOut(t *testing.T, err error) {
	t.Helper()
	refused(t, err, `Helm release "kestra/kestra" was created, but failed to initialize completely. Use Helm CLI to `+
		`investigate.: failed to become available within allocated timeout. Error: Helm Release kestra/kestra: context `+
		`deadline exceeded`)
	st, _ := status.FromError(err)
	for _, d := range st.Details() {
		if f, ok := d.(*pulumirpc.ErrorResourceInitFailed); ok && f.GetId() == "kestra/kestra" {
			return
		}
	}
	t.Fatalf("not a partial failure with the release's id: %v", err)
}

func TestHelmsWaitFailsWithoutNodesImagesOrTheDatabaseAndSucceedsWithThem(t *testing.T) {
	p := gcpCloud(t, 0)
	id := aPrivateCluster(t, p)
	k := kubernetesOn(id)
	// The instance the configuration's host is, with neither user nor database yet.
	_, outs := mustCreateAt(t, p, "urn:pulumi:dev::kestra-gcp::"+sqlInstanceType+"::instance", instance())
	host := outs["privateIpAddress"].StringValue()
	release := kestraRelease(host)

	theReleaseTimesOut(t, create(k, helmReleaseType, "kestra", release)) // no node pool
	mustCreate(t, p, nodePoolType, "node-pool", map[string]any{"project": testProject, "location": "europe-west2-a",
		"cluster": "kestra-dev", "name": "pool"})
	theReleaseTimesOut(t, create(k, helmReleaseType, "kestra", release)) // no NAT for the private nodes
	nat := map[string]any{"project": testProject, "region": "europe-west2", "router": "router", "name": "nat",
		"sourceSubnetworkIpRangesToNat": "LIST_OF_SUBNETWORKS",
		"subnetworks":                   []any{map[string]any{"name": "projects/" + testProject + "/regions/europe-west2/subnetworks/other"}}}
	mustCreate(t, p, networkType, "network", map[string]any{"name": "network-1a2b3c4", "project": testProject})
	mustCreate(t, p, routerType, "router", map[string]any{"name": "router", "project": testProject, "region": "europe-west2", "network": testNetwork})
	for _, subnet := range []string{"other", "subnet"} {
		mustCreate(t, p, subnetworkType, subnet, map[string]any{"name": subnet, "project": testProject,
			"region": "europe-west2", "network": testNetwork})
	}
	mustCreate(t, p, routerNatType, "nat-other", nat)
	theReleaseTimesOut(t, create(k, helmReleaseType, "kestra", release)) // a NAT of another subnet
	nat["subnetworks"] = []any{map[string]any{"name": "projects/" + testProject + "/regions/europe-west2/subnetworks/subnet"}}
	nat["name"] = "nat-2"
	mustCreate(t, p, routerNatType, "nat", nat)
	theReleaseTimesOut(t, create(k, helmReleaseType, "kestra", release)) // no Cloud SQL user
	mustCreate(t, p, "gcp:sql/user:User", "user", map[string]any{"project": testProject, "instance": "instance-1a2b3c4", "name": "kestra"})
	theReleaseTimesOut(t, create(k, helmReleaseType, "kestra", release)) // no database
	mustCreate(t, p, "gcp:sql/database:Database", "database", map[string]any{"project": testProject, "instance": "instance-1a2b3c4", "name": "kestra"})
	mustCreate(t, k, helmReleaseType, "kestra", release)
}

func TestHelmsWaitIsNotJudgedOffTheEchoCloudsClusters(t *testing.T) {
	p := gcpCloud(t, 0)
	// A provider for a cluster the echo cloud does not hold, or for none (a kubeconfig of the user's).
	mustCreate(t, kubernetesOn("projects/"+testProject+"/locations/europe-west2-a/clusters/elsewhere"), helmReleaseType, "kestra", kestraRelease("10.0.0.1"))
	mustCreate(t, kubernetesOn(""), helmReleaseType, "kestra", kestraRelease("10.0.0.1"))
	// A public cluster's nodes pull without a NAT.
	enable(t, p, "container.googleapis.com")
	mustCreate(t, p, clusterType, "cluster", cluster())
	mustCreate(t, p, nodePoolType, "node-pool", map[string]any{"project": testProject, "location": "europe-west2-a",
		"cluster": "kestra-dev", "name": "pool"})
	mustCreate(t, kubernetesOn("projects/"+testProject+"/locations/europe-west2-a/clusters/kestra-dev"), helmReleaseType, "kestra", kestraRelease("10.0.0.1"))
}

func TestASlowOverrideMakesAnyCreateOrOneResourceProvisionForItsTime(t *testing.T) {
	p := gcpCloud(t, 0)
	enable(t, p, "compute.googleapis.com")
	t.Setenv(slowTypesEnvVar, networkType+"=200, "+routerType+"=50, "+routerType+"::router=70")
	urn := func(typ, name string) string { return "urn:pulumi:dev::kestra-gcp::" + typ + "::" + name }
	for _, c := range []struct {
		urn  string
		ms   int64
		slow bool
	}{
		{urn(networkType, "network"), 200, true}, {urn(routerType, "other"), 50, true},
		{urn(routerType, "router"), 70, true}, {urn(subnetworkType, "subnet"), 0, false},
	} {
		if provisioningDelay(c.urn).Milliseconds() != c.ms || isSlow(c.urn) != c.slow {
			t.Fatalf("%s: %v, slow %v", c.urn, provisioningDelay(c.urn), isSlow(c.urn))
		}
	}
	done := startSlow(t, p, networkType, "network", map[string]any{"name": "n", "project": testProject})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
