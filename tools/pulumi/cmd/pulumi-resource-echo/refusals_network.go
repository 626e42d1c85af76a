package main

// Private services access as Google runs it, and the compute lookups the program makes at preview.
//
// The echo cloud (the PULUMI_ECHO_PLUGIN_STORE folder, provider.go) holds each live resource; this
// file adds what Google keeps beyond the resources a stack sees, and what it refuses because of it:
//
//   - Cloud SQL keeps a deleted instance's producer resources on the private services connection
//     of its network for a while ("It can take up to four days for the underlying resources
//     related to an instance to be completely deleted": cloud.google.com/sql/docs/postgres/delete-instance).
//     Deleting an instance records such a hold (holdsDir); deleting the connection while one is
//     current fails as the provider reports it (terraform-google-modules/terraform-google-sql-db#585,
//     hashicorp/terraform-provider-google#16275).
//   - The connection's deletion_policy (pulumi_gcp/servicenetworking/connection.py, "Deleting a
//     connection"): "ABANDON" leaves the connection and its peering in the cloud; "REMOVE_PEERING"
//     removes the peering when the delete is refused, so the network can go; anything else is
//     the plain delete, refused while a hold is current.
//   - A network has one connection per service. Creating a second one is refused unless
//     update_on_creation_fail is set; then the provider patches the existing connection with this
//     resource's ranges alone, UpdateMask("reservedPeeringRanges").Force(true)
//     (hashicorp/terraform-provider-google, google/services/servicenetworking/
//     resource_service_networking_connection.go, resourceServiceNetworkingConnectionCreate), which
//     replaces the ranges it held.
//   - compute.getNetwork, compute.getNetworkPeering and compute.getZones answer from the echo
//     cloud, as the provider's data sources read the Compute API (invokesNetwork), and so does a
//     get of a resource by id (readLive).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	connectionType  = "gcp:servicenetworking/connection:Connection"
	sqlInstanceType = "gcp:sql/databaseInstance:DatabaseInstance"
	networkType     = "gcp:compute/network:Network"
	// The peering Service Networking adds to the consumer network (the connection's `peering`).
	serviceNetworkingPeering = "servicenetworking-googleapis-com"
)

// cloudSQLHold is how long Cloud SQL may keep a deleted instance's resources on the connection.
const cloudSQLHold = 4 * 24 * time.Hour

// echoNow is the echo cloud's clock (tests move it past the hold).
var echoNow = time.Now

// producersStillUsing is the provider's error when Service Networking refuses deleteConnection.
const producersStillUsing = "Unable to remove Service Networking Connection, err: Error waiting for Delete Service " +
	"Networking Connection: Error code 9, message: Failed to delete connection; Producer services (e.g. CloudSQL, " +
	"Cloud Memstore, etc.) are still using this connection."

// createOnExisting is what Service Networking answers CreateConnection on a network that has a
// connection already; the provider matches "Cannot modify allocated ranges in CreateConnection."
// to decide whether update_on_creation_fail applies.
const createOnExisting = "Error waiting for Create Service Networking Connection: Cannot modify allocated ranges " +
	"in CreateConnection. Please use UpdateConnection."

var networkPath = regexp.MustCompile(`projects/([^/]+)/global/networks/([^/]+)$`)

// networkRef reads a network as the provider accepts it (id, self link, or bare name with the
// resource's project) as project and name.
func networkRef(network, project string) (string, string) {
	if m := networkPath.FindStringSubmatch(network); m != nil {
		return m[1], m[2]
	}
	return project, network
}

func sameNetwork(a, b string) bool {
	pa, na := networkRef(a, "")
	pb, nb := networkRef(b, "")
	return na == nb && (pa == pb || pa == "" || pb == "")
}

// storeDoc is one live resource in the echo cloud, as provider.go's keep writes it.
type storeDoc struct {
	path    string
	URN     string         `json:"urn"`
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Outputs map[string]any `json:"outputs"`
}

func liveDocs(typ string) []*storeDoc {
	dir := os.Getenv(storeEnvVar)
	if dir == "" {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(paths)
	var docs []*storeDoc
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		doc := &storeDoc{path: path}
		if json.Unmarshal(data, doc) == nil && doc.Type == typ {
			docs = append(docs, doc)
		}
	}
	return docs
}

func (d *storeDoc) str(path ...string) string {
	var v any = d.Outputs
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func (d *storeDoc) save() error {
	var whole map[string]any
	data, err := os.ReadFile(d.path)
	if err == nil {
		err = json.Unmarshal(data, &whole)
	}
	if err != nil {
		return err
	}
	whole["outputs"] = d.Outputs
	if data, err = json.Marshal(whole); err != nil {
		return err
	}
	tmp := d.path + ".tmp"
	if err = os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.path)
}

// connectionsOn lists the live private services connections of a network, but the resource urn.
func connectionsOn(network, service, urn string) []*storeDoc {
	var found []*storeDoc
	for _, doc := range liveDocs(connectionType) {
		if doc.URN != urn && sameNetwork(doc.str("network"), network) && doc.str("service") == service {
			found = append(found, doc)
		}
	}
	return found
}

// A hold: Cloud SQL still keeps a deleted instance's resources on its network's connection.
type producerHold struct {
	Instance  string    `json:"instance"`
	Network   string    `json:"network"`
	DeletedAt time.Time `json:"deletedAt"`
}

// holdsDir is beside the live resources, not among them: a hold is no resource of any stack.
func holdsDir(store string) string { return filepath.Join(store, "producer-holds") }

func recordHold(instance, network string) error {
	store := os.Getenv(storeEnvVar)
	if store == "" || network == "" {
		return nil
	}
	data, _ := json.Marshal(producerHold{Instance: instance, Network: network, DeletedAt: echoNow().UTC()})
	sum := sha256.Sum256([]byte(instance + "\n" + network))
	if err := os.MkdirAll(holdsDir(store), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(holdsDir(store), hex.EncodeToString(sum[:16])+".json"), data, 0o600)
}

// currentHolds lists the holds on a network not yet past cloudSQLHold.
func currentHolds(network string) []producerHold {
	store := os.Getenv(storeEnvVar)
	if store == "" {
		return nil
	}
	paths, _ := filepath.Glob(filepath.Join(holdsDir(store), "*.json"))
	var holds []producerHold
	for _, path := range paths {
		var h producerHold
		data, err := os.ReadFile(path)
		if err != nil || json.Unmarshal(data, &h) != nil {
			continue
		}
		if sameNetwork(h.Network, network) && echoNow().Sub(h.DeletedAt) < cloudSQLHold {
			holds = append(holds, h)
		}
	}
	return holds
}

func propString(m resource.PropertyMap, path ...string) string {
	v := resource.NewProperty(m)
	for _, k := range path {
		v = unwrap(v)
		if !v.IsObject() {
			return ""
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	v = unwrap(v)
	if v.IsString() {
		return v.StringValue()
	}
	return ""
}

// networkDelete applies what deleting the resource means in the echo cloud before provider.go
// forgets it: keep is true when the object stays in the cloud although the engine drops it.
func networkDelete(urn string, props resource.PropertyMap) (keep bool, err error) {
	switch typeOf(urn) {
	case sqlInstanceType:
		network := propString(props, "settings", "ipConfiguration", "privateNetwork")
		if network != "" {
			project, _ := networkRef(network, propString(props, "project"))
			_, name := networkRef(network, "")
			network = fmt.Sprintf("projects/%s/global/networks/%s", project, name)
		}
		return false, recordHold(propString(props, "name"), network)
	case connectionType:
		policy := propString(props, "deletionPolicy")
		if policy == "ABANDON" {
			return true, nil // dropped from the state only: the connection and its peering stay
		}
		if len(currentHolds(propString(props, "network"))) == 0 {
			return false, nil
		}
		if policy == "REMOVE_PEERING" {
			return false, nil // the refused delete is followed by removing the peering
		}
		return false, fmt.Errorf("%s", producersStillUsing)
	}
	return false, nil
}

// networkWrite applies a create or update of a private services connection to the connection the
// network may hold already (see the file's comment); other types are left alone.
func networkWrite(urn string, inputs resource.PropertyMap, creating bool) error {
	if typeOf(urn) != connectionType {
		return nil
	}
	existing := connectionsOn(propString(inputs, "network"), propString(inputs, "service"), urn)
	if len(existing) == 0 {
		return nil
	}
	if creating {
		update, _ := unwrap(inputs["updateOnCreationFail"]).V.(bool)
		if !update {
			return fmt.Errorf("%s", createOnExisting)
		}
	}
	ranges := []any{}
	for _, r := range unwrap(inputs["reservedPeeringRanges"]).ArrayValue() {
		ranges = append(ranges, unwrap(r).StringValue())
	}
	for _, doc := range existing {
		doc.Outputs["reservedPeeringRanges"] = ranges // Force(true): the list is replaced
		if err := doc.save(); err != nil {
			return err
		}
	}
	return nil
}

// readLive answers a get (a read by id of a resource the stack does not manage, such as an
// existing network's private services connection) from the echo cloud. A resource that is not
// there gets a response without id, as pulumi-terraform-bridge answers when the importer finds
// nothing (pkg/tfbridge/provider.go, Read: "The resource is gone (or never existed)").
func (p *echoProvider) readLive(req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	id, _ := url.QueryUnescape(req.GetId()) // the provider's ids escape the network's slashes
	for _, doc := range liveDocs(typeOf(req.GetUrn())) {
		if doc.ID != id {
			continue
		}
		props, err := p.marshal(resource.NewPropertyMapFromMap(doc.Outputs), "read.properties")
		if err != nil {
			return nil, err
		}
		return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: props, Inputs: props}, nil
	}
	return &pulumirpc.ReadResponse{}, nil
}

// invokesNetwork answer the compute lookups as the provider's data sources do.
var invokesNetwork = map[string]func(r *rowContext) (resource.PropertyMap, error){
	// data_source_google_compute_network.go: Networks.Get; a 404 becomes
	// "projects/<project>/global/networks/<name> not found" (transport_tpg.HandleDataSourceNotFoundError).
	// A new project has the network `default` ("Unless you choose to disable it, each new project
	// starts with a default network": cloud.google.com/vpc/docs/vpc#default-network); any other
	// network exists when the echo cloud holds it.
	"gcp:compute/getNetwork:getNetwork": func(r *rowContext) (resource.PropertyMap, error) {
		project, _ := r.lookup("project")
		name, _ := r.lookup("name")
		id := fmt.Sprintf("projects/%s/global/networks/%s", project, name)
		found := name == "default"
		for _, doc := range liveDocs(networkType) {
			found = found || (doc.str("name") == name && doc.str("project") == project)
		}
		if !found {
			return nil, fmt.Errorf("%s not found", id)
		}
		return resource.PropertyMap{
			"id": str(id), "name": str(name), "project": str(project), "description": str(""),
			"selfLink":             str("https://www.googleapis.com/compute/v1/" + id),
			"gatewayIpv4":          str(""),
			"subnetworksSelfLinks": resource.NewProperty([]resource.PropertyValue{}),
		}, nil
	},
	// data_source_compute_network_peering.go reads the network's peerings; one that is not there
	// leaves the result empty (resourceComputeNetworkPeeringRead sets no id). Service Networking's
	// peering is there while a connection on the network is.
	"gcp:compute/getNetworkPeering:getNetworkPeering": func(r *rowContext) (resource.PropertyMap, error) {
		network, _ := r.lookup("network")
		name, _ := r.lookup("name")
		if name != serviceNetworkingPeering || len(connectionsOn(network, "servicenetworking.googleapis.com", "")) == 0 {
			return resource.PropertyMap{"name": str(name), "network": str(network), "id": str("")}, nil
		}
		_, networkName := networkRef(network, "")
		return resource.PropertyMap{
			"id": str(networkName + "/" + name), "name": str(name), "network": str(network),
			"peerNetwork": str("https://www.googleapis.com/compute/v1/projects/" + tenantProject(network) + "/global/networks/servicenetworking"),
			"state":       str("ACTIVE"), "stateDetails": str("[2026-01-01T00:00:00Z]: Connected."),
		}, nil
	},
	// data_source_google_compute_zones.go: the project's zones whose region is the one asked for,
	// sorted; a region that does not exist has none. Zones as Google publishes them
	// (cloud.google.com/compute/docs/regions-zones, "Available regions and zones").
	"gcp:compute/getZones:getZones": func(r *rowContext) (resource.PropertyMap, error) {
		project, _ := r.lookup("project")
		region, _ := r.lookup("region")
		names := []resource.PropertyValue{}
		for _, suffix := range publishedZones[region] {
			names = append(names, str(region+"-"+suffix))
		}
		return resource.PropertyMap{
			"id": str(fmt.Sprintf("projects/%s/regions/%s", project, region)), "project": str(project),
			"region": str(region), "names": resource.NewProperty(names),
		}, nil
	},
}

// publishedZones: regions and their zone letters from Google's table (regions-zones page above).
var publishedZones = map[string][]string{
	"asia-east1": {"a", "b", "c"}, "asia-east2": {"a", "b", "c"}, "asia-northeast1": {"a", "b", "c"},
	"asia-south1": {"a", "b", "c"}, "asia-southeast1": {"a", "b", "c"}, "australia-southeast1": {"a", "b", "c"},
	"europe-north1": {"a", "b", "c"}, "europe-west1": {"b", "c", "d"}, "europe-west2": {"a", "b", "c"},
	"europe-west3": {"a", "b", "c"}, "europe-west4": {"a", "b", "c"}, "northamerica-northeast1": {"a", "b", "c"},
	"us-central1": {"a", "b", "c", "f"}, "us-east1": {"b", "c", "d"}, "us-west1": {"a", "b", "c"},
}

// tenantProject names the service producer's project a peering reaches (one per consumer network).
func tenantProject(network string) string {
	sum := sha256.Sum256([]byte(network))
	return "s" + strings.ToLower(hex.EncodeToString(sum[:5])) + "-tp"
}

func init() {
	for tok, answer := range invokesNetwork {
		invokes[tok] = answer
	}
}
