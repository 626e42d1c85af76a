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
	// docker_volume's driver when none is given (resource_docker_volume.go: "Defaults to `local`";
	// moby volume/service/store.go create: driverName "" → volume.DefaultDriverName).
	dockerDefaultVolumeDriver = "local"
	// docker_container's wait_timeout default (resource_docker_container.go: Default: 60).
	dockerDefaultWaitTimeout = 60
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
		return dockerContainerNameFree(inputString(inputs, "name"))
	case dockerVolumeType:
		return dockerCreateVolume(inputString(inputs, "name"), inputString(inputs, "driver"))
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
	if p.name != "docker" || dockerEngineDir() == "" || typ != dockerVolumeType {
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

type dockerLiveContainer struct {
	id, name string
	mounts   map[string]bool // named volumes it mounts
}

// dockerLiveContainers are the containers the engine runs: the store's container documents.
func dockerLiveContainers() []dockerLiveContainer {
	dir := os.Getenv(storeEnvVar)
	paths, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var found []dockerLiveContainer
	for _, path := range paths {
		raw, err := os.ReadFile(path)
		if err != nil {
			continue // removed meanwhile
		}
		var doc struct {
			Type    string         `json:"type"`
			ID      string         `json:"id"`
			Outputs map[string]any `json:"outputs"`
		}
		if json.Unmarshal(raw, &doc) != nil || doc.Type != dockerContainerType {
			continue
		}
		live := dockerLiveContainer{id: doc.ID, mounts: map[string]bool{}}
		live.name, _ = doc.Outputs["name"].(string)
		if mounts, ok := doc.Outputs["mounts"].([]any); ok {
			for _, m := range mounts {
				if mount, ok := m.(map[string]any); ok && mount["type"] == "volume" {
					if source, ok := mount["source"].(string); ok {
						live.mounts[source] = true
					}
				}
			}
		}
		if volumes, ok := doc.Outputs["volumes"].([]any); ok {
			for _, v := range volumes {
				if volume, ok := v.(map[string]any); ok {
					if source, ok := volume["volumeName"].(string); ok {
						live.mounts[source] = true
					}
				}
			}
		}
		found = append(found, live)
	}
	return found
}

// dockerAwaitHealthy is a container create's wait for health. With `wait`, the provider starts
// the container, then inspects it every second until its health is "healthy" or wait_timeout
// passes; by then ContainerCreate has returned and d.SetId has recorded the id, so a timeout is
// a create that failed with the container existing (resource_docker_container_funcs.go,
// errContainerFailedToBeInHealthyState), which the bridge reports as a partial failure with the
// id. A CLI that is terminated meanwhile never learns the id: the container runs on.
func (p *echoProvider) dockerAwaitHealthy(
	ctx context.Context, typ, id string, inputs resource.PropertyMap, props, inputProps *structpb.Struct,
) error {
	if p.name != "docker" || dockerEngineDir() == "" || typ != dockerContainerType {
		return nil
	}
	if wait, ok := inputs["wait"]; !ok || !unwrap(wait).IsBool() || !unwrap(wait).BoolValue() {
		return nil
	}
	timeout := float64(dockerDefaultWaitTimeout)
	if v, ok := inputs["waitTimeout"]; ok && unwrap(v).IsNumber() {
		timeout = unwrap(v).NumberValue()
	}
	deadline := time.Now().Add(time.Duration(timeout * float64(time.Second)))
	hold := dockerUnhealthyPath(inputString(inputs, "name"))
	for {
		if _, err := os.Stat(hold); err != nil {
			return nil // healthy
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	reason := "container failed to be in healthy state"
	st, err := status.New(codes.Unknown, reason).WithDetails(&pulumirpc.ErrorResourceInitFailed{
		Id: id, Properties: props, Reasons: []string{reason}, Inputs: inputProps,
	})
	if err != nil {
		return err
	}
	return st.Err()
}
