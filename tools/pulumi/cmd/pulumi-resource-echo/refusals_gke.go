package main

// What Google answers the gke profile's network and cluster resources when what they name is not
// there: a subnet, router, firewall or allocated range on a network that does not exist, a Cloud
// NAT on a router or for a subnet that does not exist, a cluster or node pool whose nodes run as a service
// account that does not exist. Each is an output the stack passes as an input (an ordering edge,
// tests/engine/test_ordering_mutants.py).
//
// A network's create is not slow here unless a test makes it so (slowTypesEnvVar): a network
// still being created is answered as absent, as refusals_parents.go answers a parent.

import (
	"fmt"
	"regexp"
	"strings"
)

const (
	subnetworkType = "gcp:compute/subnetwork:Subnetwork"
	routerType     = "gcp:compute/router:Router"
	routerNatType  = "gcp:compute/routerNat:RouterNat"
	clusterType    = "gcp:container/cluster:Cluster"
	nodePoolType   = "gcp:container/nodePool:NodePool"
)

func init() {
	refusals = append(refusals,
		refusal{op: "create", types: []string{
			subnetworkType, routerType, "gcp:compute/firewall:Firewall", "gcp:compute/globalAddress:GlobalAddress",
		}, check: refuseOnMissingNetwork},
		refusal{op: "create", types: []string{routerNatType}, check: refuseNatWithoutRouter},
		refusal{op: "create", types: []string{clusterType, nodePoolType}, check: refuseNodesAsMissingAccount},
	)
}

// computeNotFound is the Compute API's 404 for a resource it does not have: "The resource
// '<relative name>' was not found" (as gcloud and the client libraries show it:
// opstrace/opstrace#1317 for a network, kelseyhightower/kubernetes-the-hard-way#653 for a subnet).
func computeNotFound(name string) string {
	return googleapiError(404, fmt.Sprintf("The resource '%s' was not found", name), "notFound")
}

// A network exists when the echo cloud holds it up, or when it is `default`, which a new project
// has ("Unless you choose to disable it, each new project starts with a default network":
// cloud.google.com/vpc/docs/vpc#default-network; as compute.getNetwork answers, refusals_network.go).
func (c cloud) networkUp(network string, o *operation) bool {
	project, name := networkRef(network, o.project())
	if name == "default" {
		return true
	}
	return c.isUp(networkType, func(h held) bool { return h.str("name") == name && h.project(o.config) == project })
}

// A subnet, router, firewall rule or global address on a network that does not exist: the insert
// (subnetworks.insert, routers.insert, firewalls.insert, globalAddresses.insert) answers 404 for
// the network, which the generated resources report as "Error creating <Resource>: %s"
// (terraform-provider-google, google/services/compute/resource_compute_subnetwork.go,
// resource_compute_router.go, resource_compute_firewall.go, resource_compute_global_address.go).
// A global address without a network (an external one) names none.
func refuseOnMissingNetwork(c cloud, o *operation) error {
	network := o.str("network")
	if network == "" || c.networkUp(network, o) {
		return nil
	}
	project, name := networkRef(network, o.project())
	return fmt.Errorf("%s%s", createErrorPrefix(o), computeNotFound(fmt.Sprintf("projects/%s/global/networks/%s", project, name)))
}

// A Cloud NAT on a router that does not exist. The NAT is a part of its router: its create takes
// the mutex "router/<region>/<router>", which the router's create also holds, reads the router
// (GET …/routers/<router>) and patches it with the NAT appended; the read's error is returned as
// it is, with no prefix (google/services/compute/resource_compute_router_nat.go,
// resourceComputeRouterNatCreate, resourceComputeRouterNatPatchCreateEncoder,
// resourceComputeRouterNatListForPatch; the router's lock in resource_compute_router.go). So a NAT
// created while its router's create is under way waits for it (as a node pool for its cluster,
// refusals.go), and one whose router's create has not started meets a 404.
func refuseNatWithoutRouter(c cloud, o *operation) error {
	project, region, router := o.project(), o.str("region"), lastSegment(o.str("router"))
	if region == "" {
		region = o.config["region"]
	}
	state, _ := c.awaitUp(routerType, func(h held) bool {
		r := h.str("region")
		if r == "" {
			r = o.config["region"]
		}
		return h.str("name") == router && r == region && h.project(o.config) == project
	})
	if state != up {
		return fmt.Errorf("%s", computeNotFound(fmt.Sprintf("projects/%s/regions/%s/routers/%s", project, region, router)))
	}
	return refuseNatOnMissingSubnet(c, o, project, region)
}

var subnetPath = regexp.MustCompile(`projects/([^/]+)/regions/([^/]+)/subnetworks/([^/]+)$`)

// The router's patch with a NAT whose subnet list names a subnet that does not exist: Compute
// refuses the reference. Its text for a NAT is modelled on the one it gives an instance whose
// network interface names a missing subnet, "Invalid value for field
// 'resource.networkInterfaces[0].subnetwork': '<subnet>'. The referenced subnetwork resource cannot
// be found., invalid" (hashicorp/terraform-provider-google#2140), with the NAT's field; the patch's
// error is reported as "Error creating RouterNat: %s" (resource_compute_router_nat.go). The NAT is
// the router's first (the stack's router has no other).
func refuseNatOnMissingSubnet(c cloud, o *operation, project, region string) error {
	if o.str("sourceSubnetworkIpRangesToNat") != "LIST_OF_SUBNETWORKS" {
		return nil
	}
	list, _ := o.props["subnetworks"].([]any)
	for i, entry := range list {
		e, _ := entry.(map[string]any)
		name, _ := e["name"].(string)
		p, r, n := project, region, name
		if m := subnetPath.FindStringSubmatch(name); m != nil {
			p, r, n = m[1], m[2], m[3]
		}
		if c.isUp(subnetworkType, func(h held) bool {
			return h.str("name") == n && h.str("region") == r && h.project(o.config) == p
		}) {
			continue
		}
		message := fmt.Sprintf("Invalid value for field 'resource.nats[0].subnetworks[%d].name': '%s'. The referenced "+
			"subnetwork resource cannot be found.", i, name)
		return fmt.Errorf("%s%s", createErrorPrefix(o), googleapiError(400, message, "invalid"))
	}
	return nil
}

// A cluster or node pool whose nodes run as a user-managed service account that does not exist
// (yet): GKE answers 400 `Service account "<email>" does not exist.` The cluster's create returns
// the API's error as it is (resource_container_cluster.go, resourceContainerClusterCreate: `return
// err` after clusterCreateCall.Do; the text as in gruntwork-io/terraform-google-gke#56 and
// midl-dev/tezos-on-gke#45), the node pool's with "error creating NodePool: "
// (sassoftware/viya4-iac-gcp#148). Only the project's own accounts
// (<id>@<project>.iam.gserviceaccount.com) are judged: the stack creates no other.
func refuseNodesAsMissingAccount(c cloud, o *operation) error {
	email := o.str("nodeConfig.serviceAccount")
	if !strings.HasSuffix(email, "@"+o.project()+".iam.gserviceaccount.com") {
		return nil
	}
	if c.isUp(accountType, func(h held) bool { return h.str("email") == email }) {
		return nil
	}
	answer := googleapiError(400, fmt.Sprintf("Service account %q does not exist.", email), "badRequest")
	if o.typ == clusterType {
		return fmt.Errorf("%s", answer)
	}
	return fmt.Errorf("%s%s", createErrorPrefix(o), answer)
}

// regionOf is a GKE location's region (a zone "europe-west2-a" is in "europe-west2").
var zoneSuffix = regexp.MustCompile(`^([a-z]+-[a-z]+[0-9]+)-[a-z]$`)

func regionOf(location string) string {
	if m := zoneSuffix.FindStringSubmatch(location); m != nil {
		return m[1]
	}
	return location
}
