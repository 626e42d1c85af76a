package main

// The Docker Engine behind the echo docker plugin. Container and volume names belong to the
// engine, not to a stack: a create meets whatever the engine already holds under that name, and
// that is where a real Docker answers differently from an echo of the inputs. Each behaviour
// below cites the source it imitates. pulumi-docker 5.2.0 bridges kreuzwerker/
// terraform-provider-docker v4.5.0 (its `upstream` submodule at 5074970); the engine is
// moby/moby.
//
// What the engine holds lives in the store (PULUMI_ECHO_PLUGIN_STORE): live containers are the
// store's docker container documents, and volumes — which a retained resource leaves behind
// with no document of the stack's — are the engine's own records under docker-engine/volumes/,
// in the fields `docker volume inspect` shows. Without a store nothing is modelled.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	dockerContainerType = "docker:index/container:Container"
	dockerVolumeType    = "docker:index/volume:Volume"
	dockerNetworkType   = "docker:index/network:Network"
	// docker_volume's driver when none is given (resource_docker_volume.go: "Defaults to `local`";
	// moby volume/service/store.go create: driverName "" → volume.DefaultDriverName).
	dockerDefaultVolumeDriver = "local"
	// docker_container's wait_timeout default (resource_docker_container.go: Default: 60).
	dockerDefaultWaitTimeout = 60
	// docker_container's create timeout (resource_docker_container.go Timeouts:
	// dockerContainerCreateDefaultTimeout = 20 * time.Minute). The plugin SDK runs CreateContext
	// under it (terraform-plugin-sdk/v2 helper/schema Resource.create: context.WithTimeout), and
	// the bridge replaces it with a CreateRequest's timeout, the resource's customTimeouts.create
	// (pulumi-terraform-bridge pkg/tfbridge/provider.go Create: newTimeoutOverrides).
	dockerDefaultCreateTimeout = 20 * 60
)

// dockerVolumeRecord is a volume as the engine keeps it (Docker Engine API, VolumeInspect).
type dockerVolumeRecord struct {
	Name       string `json:"Name"`
	Driver     string `json:"Driver"`
	Mountpoint string `json:"Mountpoint"`
	CreatedAt  string `json:"CreatedAt"`
}

func dockerEngineDir() string {
	dir := os.Getenv(storeEnvVar)
	if dir == "" {
		return ""
	}
	return filepath.Join(dir, "docker-engine")
}

func dockerVolumePath(name string) string {
	return filepath.Join(dockerEngineDir(), "volumes", name+".json")
}

// dockerUnhealthyPath is a test's switch: while this file exists, the container of that name
// is running but not yet healthy (its healthcheck has not passed), so a create with `wait`
// waits — as pulumi-docker waits for a cold Kestra.
func dockerUnhealthyPath(name string) string {
	return filepath.Join(dockerEngineDir(), "unhealthy", name)
}

func inputString(inputs resource.PropertyMap, key string) string {
	v, ok := inputs[resource.PropertyKey(key)]
	if !ok {
		return ""
	}
	v = unwrap(v)
	if !v.IsString() {
		return ""
	}
	return v.StringValue()
}

// dockerRefusesCreate answers a create as the engine would before the resource exists: a
// refusal, or nil (the create goes on; a volume of that name may have been adopted).
func (p *echoProvider) dockerRefusesCreate(typ string, inputs resource.PropertyMap) error {
	if p.name != "docker" || dockerEngineDir() == "" {
		return nil
	}
	switch typ {
	case dockerContainerType:
		if err := dockerBindSourcesExist(inputs); err != nil {
			return err
		}
		return dockerContainerNameFree(inputString(inputs, "name"))
	case dockerVolumeType:
		return dockerCreateVolume(inputString(inputs, "name"), inputString(inputs, "driver"))
	case dockerNetworkType:
		return dockerNetworkNameFree(inputString(inputs, "name"))
	}
	return nil
}

// A network name is unique on the engine: since Docker 25 (API 1.44 deprecates CheckDuplicate)
// the daemon refuses a second network of the same name (moby daemon/network.go createNetwork →
// libnetwork/error.go NetworkNameError "network with name %s already exists"), and
// resourceDockerNetworkCreate calls NetworkCreate with no lookup first
// (resource_docker_network_funcs.go: "Unable to create network: %s").
func dockerNetworkNameFree(name string) error {
	for _, doc := range dockerLiveDocs(dockerNetworkType) {
		if live, _ := doc.Outputs["name"].(string); live == name && name != "" {
			return fmt.Errorf("Unable to create network: Error response from daemon: network with name %s already exists", name)
		}
	}
	return nil
}

// A `bind` mount needs its source on the Docker host, here this machine: ContainerCreate refuses
// the container otherwise (moby volume/mounts/linux_parser.go validateMountConfig: os.Stat of the
// source, errMountConfig "invalid mount config for type %q: %v" around errBindSourceDoesNotExist
// "bind source path does not exist: %s"). A legacy `volumes` bind is not checked: the engine
// creates its host directory.
func dockerBindSourcesExist(inputs resource.PropertyMap) error {
	plain := deepUnwrap(resource.NewProperty(inputs)).ObjectValue().Mappable()
	for _, m := range listOf(plain["mounts"]) {
		source, _ := m["source"].(string)
		if m["type"] != "bind" {
			continue
		}
		if _, err := os.Stat(source); err != nil {
			return fmt.Errorf("Unable to create container: Error response from daemon: invalid mount config for "+
				"type \"bind\": bind source path does not exist: %s", source)
		}
	}
	return nil
}

// A container name is the engine's: resourceDockerContainerCreate calls ContainerCreate with
// d.Get("name") and no lookup first (resource_docker_container_funcs.go), and the daemon
// refuses a name it has reserved (moby daemon/names.go reserveName → daemon/errors.go
// nameConflictError, HTTP 409). The client prefixes "Error response from daemon: " and the
// provider "Unable to create container: ".
func dockerContainerNameFree(name string) error {
	if name == "" {
		return nil
	}
	for _, live := range dockerLiveContainers() {
		if live.name == name {
			return fmt.Errorf("Unable to create container: Error response from daemon: Conflict. The container "+
				"name %q is already in use by container %q. You have to remove (or rename) that container to be "+
				"able to reuse that name.", "/"+name, live.id)
		}
	}
	return nil
}

// Creating a named volume that exists is not an error: resourceDockerVolumeCreate calls
// VolumeCreate and sets the id to the returned volume's name (resource_docker_volume.go), and
// the engine returns the existing volume when the driver is the same, with its data and
// CreatedAt (moby volume/service/store.go create → checkConflict: "there is an existing
// volume, if we already have this stored locally, return it"; the `docker volume create`
// reference: "Docker assumes you want to re-use the existing volume and does not return an
// error"). A volume of that name under another driver is refused (errNameConflict, "volume name
// must be unique", wrapped as "driver '%s' already has volume '%s'" in an OpErr "create <name>").
func dockerCreateVolume(name, driver string) error {
	if name == "" {
		return nil // the engine names it (a random id): it cannot exist yet
	}
	if driver == "" {
		driver = dockerDefaultVolumeDriver
	}
	if existing, ok := readDockerVolume(name); ok {
		if existing.Driver != driver {
			return fmt.Errorf("Unable to create volume: Error response from daemon: create %s: driver '%s' already "+
				"has volume '%s': volume name must be unique", name, existing.Driver, name)
		}
		return nil // adopted as it is
	}
	record := dockerVolumeRecord{
		Name: name, Driver: driver, Mountpoint: fmt.Sprintf("/var/lib/docker/volumes/%s/_data", name),
		CreatedAt: time.Now().UTC().Format(time.RFC3339Nano),
	}
	doc, _ := json.Marshal(record)
	path := dockerVolumePath(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, doc, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readDockerVolume(name string) (dockerVolumeRecord, bool) {
	var record dockerVolumeRecord
	raw, err := os.ReadFile(dockerVolumePath(name))
	if err != nil || json.Unmarshal(raw, &record) != nil {
		return record, false
	}
	return record, true
}

// dockerRefusesDelete answers a delete as the engine would. A volume a live container mounts
// cannot be removed: VolumeRemove answers "volume is in use" (moby volume/service/store.go
// Remove → errVolumeInUse, with the containers' ids as the OpErr's refs) and the provider
// retries that for volumeReadRefreshTimeout (30 s) before giving up with the StateChangeConf's
// timeout (resource_docker_volume.go resourceDockerVolumeDelete). Otherwise the volume, and
// the data in it, is gone.
func (p *echoProvider) dockerRefusesDelete(typ string, olds resource.PropertyMap) error {
	if p.name != "docker" || dockerEngineDir() == "" {
		return nil
	}
	if typ == dockerNetworkType {
		return dockerNetworkRemovable(inputString(olds, "name"))
	}
	if typ != dockerVolumeType {
		return nil
	}
	name := inputString(olds, "name")
	var users []string
	for _, live := range dockerLiveContainers() {
		if live.mounts[name] {
			users = append(users, live.id)
		}
	}
	if len(users) > 0 {
		sort.Strings(users)
		return fmt.Errorf("timeout while waiting for state to become 'removed' (last state: 'in_use', timeout: 30s): "+
			"Error response from daemon: remove %s: volume is in use - [%s]", name, strings.Join(users, ", "))
	}
	if err := os.Remove(dockerVolumePath(name)); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// A network a live container is connected to cannot be removed: NetworkRemove answers "network
// with name %s id %s has active endpoints" (libnetwork/error.go ActiveEndpointsError), which the
// provider treats as pending and retries for networkRemoveRefreshTimeout (30 s) until
// StateChangeConf gives up (resource_docker_network_funcs.go resourceDockerNetworkRemoveRefreshFunc).
func dockerNetworkRemovable(name string) error {
	for _, live := range dockerLiveContainers() {
		if live.networks[name] {
			return fmt.Errorf("timeout while waiting for state to become 'removed' (last state: 'pending', timeout: 30s)")
		}
	}
	return nil
}

// dockerNetworkExists: a live network whose name or id is `ref` (networks_advanced.name takes
// either, resource_docker_container.go).
func dockerNetworkExists(ref string) bool {
	for _, doc := range dockerLiveDocs(dockerNetworkType) {
		if name, _ := doc.Outputs["name"].(string); name == ref || doc.ID == ref {
			return true
		}
	}
	return false
}

type dockerDoc struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Outputs map[string]any `json:"outputs"`
}

// dockerLiveDocs are the store's documents of one docker type: what the engine holds of it.
func dockerLiveDocs(typ string) []dockerDoc {
	paths, _ := filepath.Glob(filepath.Join(os.Getenv(storeEnvVar), "*.json"))
	var found []dockerDoc
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // removed meanwhile
		}
		var doc dockerDoc
		if json.Unmarshal(raw, &doc) == nil && doc.Type == typ {
			found = append(found, doc)
		}
	}
	return found
}

type dockerLiveContainer struct {
	id, name string
	mounts   map[string]bool // named volumes it mounts
	networks map[string]bool // networks (by name or id) it is connected to
}

// dockerLiveContainers are the containers the engine runs: the store's container documents.
func dockerLiveContainers() []dockerLiveContainer {
	var found []dockerLiveContainer
	for _, doc := range dockerLiveDocs(dockerContainerType) {
		live := dockerLiveContainer{id: doc.ID, mounts: map[string]bool{}, networks: map[string]bool{}}
		live.name, _ = doc.Outputs["name"].(string)
		for _, m := range listOf(doc.Outputs["mounts"]) {
			if m["type"] == "volume" {
				if source, ok := m["source"].(string); ok {
					live.mounts[source] = true
				}
			}
		}
		for _, v := range listOf(doc.Outputs["volumes"]) {
			if source, ok := v["volumeName"].(string); ok {
				live.mounts[source] = true
			}
		}
		for _, n := range listOf(doc.Outputs["networksAdvanced"]) {
			if name, ok := n["name"].(string); ok {
				live.networks[name] = true
			}
		}
		found = append(found, live)
	}
	return found
}

// listOf is a list of objects in a stored document ({} items skipped).
func listOf(v any) []map[string]any {
	items, _ := v.([]any)
	var out []map[string]any
	for _, item := range items {
		if m, ok := item.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// dockerStartContainer is what follows ContainerCreate in resourceDockerContainerCreate
// (resource_docker_container_funcs.go), for a container the store already holds:
//
//   - a `volume` mount of a volume that does not exist makes the engine create it, empty, with the
//     default driver ("If you start a container with a volume that doesn't yet exist, Docker
//     creates the volume for you", docs.docker.com/engine/storage/volumes);
//   - each networks_advanced entry is connected with NetworkConnect, which fails for a network
//     that does not exist ("network %s not found", libnetwork/error.go ErrNoSuchNetwork; the
//     provider's "Unable to connect to network '%s': %s");
//   - with `wait`, the provider inspects the container every second until its health is
//     "healthy" or wait_timeout passes, or the create's own timeout does, whichever comes first
//     (errContainerFailedToBeInHealthyState either way).
//
// d.SetId has recorded the id right after ContainerCreate, so a failure from here on is a create
// that failed with the container existing, which the bridge reports as a partial failure with
// the id. A CLI terminated meanwhile never learns the id: the container runs on.
func (p *echoProvider) dockerStartContainer(
	ctx context.Context, typ, id string, inputs resource.PropertyMap, props, inputProps *structpb.Struct,
	createTimeout float64,
) error {
	started := time.Now()
	if p.name != "docker" || dockerEngineDir() == "" || typ != dockerContainerType {
		return nil
	}
	partial := func(reason string) error {
		st, err := status.New(codes.Unknown, reason).WithDetails(&pulumirpc.ErrorResourceInitFailed{
			Id: id, Properties: props, Reasons: []string{reason}, Inputs: inputProps,
		})
		if err != nil {
			return err
		}
		return st.Err()
	}
	plain := deepUnwrap(resource.NewProperty(inputs)).ObjectValue().Mappable()
	for _, m := range listOf(plain["mounts"]) {
		if source, ok := m["source"].(string); ok && m["type"] == "volume" {
			if _, exists := readDockerVolume(source); !exists {
				if err := dockerCreateVolume(source, ""); err != nil {
					return partial(err.Error())
				}
			}
		}
	}
	for _, n := range listOf(plain["networksAdvanced"]) {
		if name, ok := n["name"].(string); ok && !dockerNetworkExists(name) {
			return partial(fmt.Sprintf("Unable to connect to network '%s': Error response from daemon: network %s not found",
				name, name))
		}
	}

	if wait, ok := inputs["wait"]; !ok || !unwrap(wait).IsBool() || !unwrap(wait).BoolValue() {
		return nil
	}
	timeout := float64(dockerDefaultWaitTimeout)
	if v, ok := inputs["waitTimeout"]; ok && unwrap(v).IsNumber() {
		timeout = unwrap(v).NumberValue()
	}
	if createTimeout <= 0 {
		createTimeout = dockerDefaultCreateTimeout
	}
	deadline := started.Add(time.Duration(min(timeout, createTimeout) * float64(time.Second)))
	hold := dockerUnhealthyPath(inputString(inputs, "name"))
	for {
		if _, err := os.Stat(hold); err != nil {
			return nil // healthy
		}
		if time.Now().After(deadline) {
			return partial("container failed to be in healthy state")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
