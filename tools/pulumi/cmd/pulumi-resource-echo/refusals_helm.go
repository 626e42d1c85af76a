package main

// Helm's wait, as pulumi-kubernetes runs it for a helm.v3.Release on a GKE cluster of the echo
// cloud: the release's objects are created, then Helm waits until its Deployments are ready or the
// release's timeout passes (pulumi/pulumi-kubernetes, provider/pkg/provider/helm_release.go,
// helmCreate: client.Wait = !skipAwait, client.Timeout = the release's `timeout`).
//
// Kestra's pods are ready only where three things hold:
//   - nodes: the cluster has a node pool up. Without nodes the pods stay Pending (Unschedulable);
//   - images: a private cluster's nodes have no external IP, so the images the chart pulls from
//     Docker Hub (kestra/kestra, and the docker:dind sidecar: kestra-io/helm-charts,
//     charts/kestra/values.yaml, image.repository and dind.image.repository) are reached through
//     a Cloud NAT on the nodes' subnet ("About network isolation in GKE": outbound internet access
//     of private nodes is through Cloud NAT); without it the pulls fail (ImagePullBackOff). Images
//     of Google's registries (*.pkg.dev, gcr.io) come through Private Google Access instead;
//   - the database: Kestra runs its migrations at boot over the datasource of its configuration
//     (datasources.postgres: url and username), and exits when PostgreSQL refuses the login
//     (`FATAL: password authentication failed for user "<user>"`) or does not know the database
//     (`FATAL: database "<db>" does not exist`: PostgreSQL, src/backend/utils/init/postinit.c),
//     so without the Cloud SQL user and database the pods restart (CrashLoopBackOff).
//
// The echo cloud has no minutes: what the pods lack when the release is installed is taken to be
// lacking until the release's timeout has passed (the stack never leaves it to a race against that
// timeout; each of the three is an edge of the release, tests/engine/test_ordering_mutants.py).
// Helm's wait then ends with the context's error, "context deadline exceeded"
// (helm.sh/helm/v3 v3.18.6, the version pulumi-kubernetes v4 builds with: pkg/kube/wait.go,
// waitForResources, wait.PollUntilContextCancel; pkg/action/install.go returns it as it is without
// `atomic`), and pulumi-kubernetes reports a release that was created but failed
// (helm_release.go, releaseFailedError and Create's partialError): the release is in the state,
// and the create fails with
//
//	Helm release "<ns>/<name>" was created, but failed to initialize completely. Use Helm CLI to
//	investigate.: failed to become available within allocated timeout. Error: Helm Release
//	<ns>/<name>: context deadline exceeded
//
// Only a release whose provider names a cluster of the echo cloud (its clusterIdentifier, the
// cluster's id: infra/runtimes/gke/cluster.py) is judged, and only its create: an update runs
// `helm upgrade`, whose wait is not modelled.

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	helmReleaseType = "kubernetes:helm.sh/v3:Release"
	// The chart's images when the values name no other (kestra-io/helm-charts, charts/kestra/values.yaml).
	chartImage = "kestra/kestra"
)

// helmAwait runs Helm's wait after the release's create: nil when the pods get ready.
func (p *echoProvider) helmAwait(typ, id string, outs resource.PropertyMap, props, inputProps *structpb.Struct) error {
	dir := os.Getenv(storeEnvVar)
	if dir == "" || typ != helmReleaseType || p.name != "kubernetes" {
		return nil
	}
	p.mu.Lock()
	identifier := p.config["clusterIdentifier"]
	p.mu.Unlock()
	m := clusterID.FindStringSubmatch(identifier)
	if m == nil {
		return nil
	}
	c := cloud{dir}
	project, location, name := m[1], m[2], m[3]
	state, cluster := c.find(clusterType, func(h held) bool {
		return h.str("name") == name && h.str("location") == location && sameProject(h, project)
	})
	if state != up {
		return nil // not a cluster of the echo cloud
	}
	release := deepUnwrap(resource.NewProperty(outs)).ObjectValue().Mappable()
	if waiting := podsWaitingFor(c, cluster, release); waiting == "" {
		return nil
	}
	qualified := fmt.Sprintf("%s/%s", stringAt(release, "namespace"), stringAt(release, "name"))
	reason := fmt.Sprintf("Helm release %q was created, but failed to initialize completely. Use Helm CLI to "+
		"investigate.: failed to become available within allocated timeout. Error: Helm Release %s: context deadline "+
		"exceeded", qualified, qualified)
	st, err := status.New(codes.Unknown, reason).WithDetails(&pulumirpc.ErrorResourceInitFailed{
		Id: id, Properties: props, Reasons: []string{reason}, Inputs: inputProps,
	})
	if err != nil {
		return err
	}
	return st.Err()
}

// podsWaitingFor names what keeps the release's pods from getting ready ("" when nothing does).
func podsWaitingFor(c cloud, cluster held, release map[string]any) string {
	project, location, name := cluster.project(nil), cluster.str("location"), cluster.str("name")
	if !c.isUp(nodePoolType, func(h held) bool {
		pool := h.str("cluster")
		if m := clusterID.FindStringSubmatch(pool); m != nil {
			return m[1] == project && m[2] == location && m[3] == name
		}
		return pool == name && h.str("location") == location && sameProject(h, project)
	}) {
		return "nodes: the cluster has no node pool"
	}
	values, _ := release["values"].(map[string]any)
	if private, _ := cluster.Outputs["privateClusterConfig"].(map[string]any); private != nil &&
		private["enablePrivateNodes"] == true && pullsFromTheInternet(values) && !c.natCovers(cluster) {
		return "images: the private nodes reach no registry outside Google"
	}
	if values != nil {
		if missing := c.databaseMissing(values); missing != "" {
			return "database: " + missing
		}
	}
	return ""
}

// pullsFromTheInternet: the chart's Kestra image is on Docker Hub unless the values name one of
// Google's registries, and so is the image of its Docker-in-Docker sidecar, enabled unless the
// values disable it (charts/kestra/values.yaml: dind.enabled true, image repository `docker`).
func pullsFromTheInternet(values map[string]any) bool {
	repository := stringAt(values, "image.repository")
	if repository == "" {
		repository = chartImage
	}
	host := strings.SplitN(repository, "/", 2)[0]
	google := strings.HasSuffix(host, ".pkg.dev") || host == "gcr.io" || strings.HasSuffix(host, ".gcr.io")
	dind, _ := values["dind"].(map[string]any)
	return !google || dind == nil || dind["enabled"] != false
}

// sameProject: a held resource without a project input is in the provider's project, which the
// kubernetes plugin does not know: it is taken to be the one asked for.
func sameProject(h held, project string) bool {
	p := h.str("project")
	return p == "" || p == project
}

// natCovers: a Cloud NAT up in the cluster's region translates the cluster's subnet (all of the
// region's subnets, or a list naming it).
func (c cloud) natCovers(cluster held) bool {
	project, region := cluster.project(nil), regionOf(cluster.str("location"))
	subnet := lastSegment(cluster.str("subnetwork"))
	return c.isUp(routerNatType, func(h held) bool {
		if !sameProject(h, project) || h.str("region") != region {
			return false
		}
		switch h.str("sourceSubnetworkIpRangesToNat") {
		case "ALL_SUBNETWORKS_ALL_IP_RANGES", "ALL_SUBNETWORKS_ALL_PRIMARY_IP_RANGES":
			return true
		}
		list, _ := h.Outputs["subnetworks"].([]any)
		for _, entry := range list {
			if e, ok := entry.(map[string]any); ok && lastSegment(fmt.Sprint(e["name"])) == subnet {
				return true
			}
		}
		return false
	})
}

// databaseMissing checks the datasource of Kestra's configuration against Cloud SQL: the instance
// at the URL's host, its user and its database.
func (c cloud) databaseMissing(values map[string]any) string {
	postgres := stringAt(values, "configurations.application.datasources.postgres.url")
	user := stringAt(values, "configurations.application.datasources.postgres.username")
	parsed, err := url.Parse(strings.TrimPrefix(postgres, "jdbc:"))
	if postgres == "" || err != nil {
		return ""
	}
	host, database := parsed.Hostname(), strings.TrimPrefix(parsed.Path, "/")
	state, instance := c.find(sqlInstanceType, func(h held) bool {
		return h.str("privateIpAddress") == host || h.str("publicIpAddress") == host
	})
	if state != up {
		return "" // not a Cloud SQL instance of the echo cloud
	}
	name, project := instance.str("name"), instance.project(nil)
	if !c.isUp("gcp:sql/user:User", func(h held) bool {
		return h.str("instance") == name && h.str("name") == user && sameProject(h, project)
	}) {
		return fmt.Sprintf("FATAL: password authentication failed for user %q", user)
	}
	if !c.isUp("gcp:sql/database:Database", func(h held) bool {
		return h.str("instance") == name && h.str("name") == database && sameProject(h, project)
	}) {
		return fmt.Sprintf("FATAL: database %q does not exist", database)
	}
	return ""
}
