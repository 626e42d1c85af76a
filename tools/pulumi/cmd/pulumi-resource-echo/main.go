// Command pulumi-resource-echo stands in for the gcp, docker, random, kubernetes and tls provider
// plugins in the engine tests, which can have neither the real plugins (their Go modules are not
// served and release binaries cannot be downloaded) nor a cloud. It speaks the real provider protocol:
// CheckConfig/DiffConfig/Configure/Check/Diff/Create/Read/Update/Delete/Invoke, with outputs =
// inputs plus the computed outputs of table.go, stable ids, a property-by-property Diff with the
// real providers' replacements, secrets kept marked, and the program's invokes answered.
//
// One binary serves every provider: scripts/install-tools links it as pulumi-resource-<name>
// into .tools/echo/, and the name it is started under picks the provider. Each reports the
// plugin version of the installed Python SDK (pulumi-plugin.json), set at link time with
// -X main.versions=gcp=10.2.0,docker=5.2.0,… . The engine tests put these links into their own
// PULUMI_HOME plugin folder: never on a user's PATH, never into a user's ~/.pulumi.
//
// Flags: -version prints the version of the provider the binary is named as; -table prints the
// table (providers with their versions, resource types with their computed attributes and
// replacement rules, invokes) as JSON for the tests.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// versions is set at link time: "gcp=10.2.0,docker=5.2.0,random=4.21.4".
var versions string

func versionOf(name string) (string, bool) {
	for _, pair := range strings.Split(versions, ",") {
		if k, v, ok := strings.Cut(pair, "="); ok && k == name && v != "" {
			return v, true
		}
	}
	return "", false
}

func main() {
	showVersion := flag.Bool("version", false, "print the plugin version of the provider this binary is named as")
	showTable := flag.Bool("table", false, "print the echo table as JSON")
	flag.String("tracing", "", "accepted for compatibility with the engine's plugin arguments; ignored")
	flag.Parse()

	if *showTable {
		printTable()
		return
	}
	name := strings.TrimPrefix(filepath.Base(os.Args[0]), "pulumi-resource-")
	if _, known := providers[name]; !known {
		cmdutil.Exit(fmt.Errorf("started as %s: the echo plugin serves pulumi-resource-<name> for a name in its "+
			"table (%s)", filepath.Base(os.Args[0]), strings.Join(providerNames(), ", ")))
	}
	version, ok := versionOf(name)
	if !ok {
		cmdutil.Exit(fmt.Errorf("pulumi-resource-%s was built without a version for %s (versions %q): "+
			"rebuild with scripts/install-tools in a virtualenv that has the Pulumi %s SDK", name, name, versions, name))
	}
	if *showVersion {
		fmt.Println(version)
		return
	}
	logging.InitLogging(false, 0, false)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()
	if args := flag.Args(); len(args) > 0 {
		// Exit when the engine goes away, so no plugin outlives a killed CLI.
		if err := rpcutil.Healthcheck(ctx, args[0], 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, newProvider(name, version))
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the provider RPC server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("provider RPC server stopped: %w", err))
	}
}

func providerNames() []string {
	var names []string
	for n := range providers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func printTable() {
	type typeRow struct {
		Computed []string `json:"computed"`
		Secret   []string `json:"secret"`
		// null when not used; replaceAllBut [] means every input replaces.
		Replaces      []string `json:"replaces"`
		ReplaceAllBut []string `json:"replaceAllBut"`
	}
	out := struct {
		Providers map[string]string  `json:"providers"`
		Types     map[string]typeRow `json:"types"`
		Invokes   []string           `json:"invokes"`
	}{Providers: map[string]string{}, Types: map[string]typeRow{}}
	for _, n := range providerNames() {
		v, _ := versionOf(n)
		out.Providers[n] = v
	}
	for typ, spec := range resources {
		row := typeRow{Computed: []string{}, Secret: []string{}, Replaces: spec.replaces, ReplaceAllBut: spec.replaceAllBut}
		for _, r := range spec.computed {
			row.Computed = append(row.Computed, r.attr)
			if r.secret {
				row.Secret = append(row.Secret, r.attr)
			}
		}
		out.Types[typ] = row
	}
	for tok := range invokes {
		out.Invokes = append(out.Invokes, tok)
	}
	sort.Strings(out.Invokes)
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}
