package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func clusterRow() *rowContext {
	inputs := resource.PropertyMap{"name": resource.NewProperty("kestra-dev")}
	return &rowContext{urn: "urn:pulumi:dev::kestra-gcp::gcp:container/cluster:Cluster::cluster", inputs: inputs, outputs: inputs}
}

func TestAClusterAnswersADocumentationAddressAndACAOfItsOwnByDefault(t *testing.T) {
	t.Setenv(clusterEndpointEnvVar, "")
	t.Setenv(clusterCAEnvVar, "")
	if endpoint := clusterEndpoint(clusterRow()).StringValue(); !strings.HasPrefix(endpoint, "198.51.100.") {
		t.Fatalf("endpoint %q is not in TEST-NET-2", endpoint)
	}
	ca := clusterMasterAuth(clusterRow()).ObjectValue()["clusterCaCertificate"].StringValue()
	pem, err := base64.StdEncoding.DecodeString(ca)
	if err != nil || !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("clusterCaCertificate is not base64 of a PEM certificate: %q", ca)
	}
}

func TestAClusterAnswersTheEndpointAndCATheTestsPointItAt(t *testing.T) {
	t.Setenv(clusterEndpointEnvVar, "127.30.4.5")
	t.Setenv(clusterCAEnvVar, "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==")
	if endpoint := clusterEndpoint(clusterRow()).StringValue(); endpoint != "127.30.4.5" {
		t.Fatalf("endpoint %q", endpoint)
	}
	auth := clusterMasterAuth(clusterRow()).ObjectValue()
	if ca := auth["clusterCaCertificate"].StringValue(); ca != "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==" {
		t.Fatalf("clusterCaCertificate %q", ca)
	}
}
