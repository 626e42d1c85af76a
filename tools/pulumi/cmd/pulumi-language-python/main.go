// Command pulumi-language-python is the Python language host of our CLI build.
//
// Why it exists: the Go module proxy we build from refuses the upstream module
// github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3 at every
// version, and no release binary may be downloaded, so the CLI built from
// pkg/v3 would have no way to run a Python program. This host implements the
// part of the LanguageRuntime protocol the engine uses for preview, up,
// refresh, destroy, stack output, config and install of a Python project, with
// the upstream host's semantics (same executor, arguments, environment and
// exit-code conventions). It is built against sdk/v3 at the CLI's version.
//
// RunPlugin runs Python plugins the same way, above all policy packs
// (`pulumi preview --policy-pack DIR`): see RunPlugin below.
//
// What it does not do: debugging (attachDebugger), typecheckers, packing/
// linking SDKs and code generation. Those RPCs answer Unimplemented (or a
// clear error), never a silent success.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	// The shim that runs the user's program; installed next to this binary (from sdk/v3's python/cmd).
	executorName = "pulumi-language-python-exec"
	// The Python SDK reads the stack config and its secret keys from these variables.
	configEnvVar           = "PULUMI_CONFIG"
	configSecretKeysEnvVar = "PULUMI_CONFIG_SECRET_KEYS"
	// The SDK exits with this code after it has already shown the user an actionable message;
	// the engine must then bail without adding a second error.
	exitAfterUserMessage = 32
)

func main() {
	showVersion := flag.Bool("version", false, "print the plugin version and exit")
	tracingEndpoint := flag.String("tracing", "", "Zipkin-compatible tracing endpoint (passed on to the program)")
	givenExecutor := flag.String("use-executor", "", "run programs with this executor instead of the one next to this binary")
	flag.Parse()
	if *showVersion {
		fmt.Println(version.Version)
		return
	}
	logging.InitLogging(false, 0, false)

	executor := *givenExecutor
	if executor == "" {
		self, err := os.Executable()
		if err != nil {
			cmdutil.Exit(fmt.Errorf("could not determine the language host's own path: %w", err))
		}
		executor = filepath.Join(filepath.Dir(self), executorName)
		if _, err := os.Stat(executor); err != nil {
			cmdutil.Exit(fmt.Errorf("missing executor %s (run scripts/install-tools): %w", executor, err))
		}
	}

	// The engine passes its address as the first argument (older protocol); newer engines use Handshake.
	var engineAddress string
	if args := flag.Args(); len(args) > 0 {
		engineAddress = args[0]
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	cancelServe := make(chan bool)
	go func() {
		<-ctx.Done()
		stop()
		close(cancelServe)
	}()
	if engineAddress != "" {
		// Exit when the engine goes away, so no orphan host survives a killed CLI.
		if err := rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, stop); err != nil {
			cmdutil.Exit(fmt.Errorf("could not start the engine health check: %w", err))
		}
	}

	host := newHost(executor, engineAddress, *tracingEndpoint)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancelServe,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.TracingServerInterceptorOptions(nil),
	})
	if err != nil {
		cmdutil.Exit(fmt.Errorf("could not start the language host RPC server: %w", err))
	}
	// The engine reads the port from our first line of output.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		cmdutil.Exit(fmt.Errorf("language host RPC server stopped: %w", err))
	}
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	executor      string
	engineAddress string
	tracing       string
	// Cancelled by the Cancel RPC: stops a running program.
	cancelCtx  context.Context
	cancelFunc context.CancelFunc
}

func newHost(executor, engineAddress, tracing string) *pythonHost {
	ctx, cancel := context.WithCancel(context.Background())
	return &pythonHost{
		executor: executor, engineAddress: engineAddress, tracing: tracing,
		cancelCtx: ctx, cancelFunc: cancel,
	}
}

// pythonOptions reads Pulumi.yaml's runtime options (toolchain, virtualenv) the way the
// upstream host does; options this host cannot honour are refused by name.
func pythonOptions(info *pulumirpc.ProgramInfo) (toolchain.PythonOptions, error) {
	return pluginOptions(info, false)
}

// pluginOptions is pythonOptions for a plugin (isPlugin: a resource or tool plugin, not a policy
// pack): like upstream, a plugin without a virtualenv option and with the pip toolchain runs in
// `venv` next to it, never in the ambient Python.
func pluginOptions(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{Root: info.GetRootDirectory(), ProgramDir: info.GetProgramDirectory()}
	raw := map[string]any{}
	if info.GetOptions() != nil {
		raw = info.GetOptions().AsMap()
	}
	if v, ok := raw["virtualenv"]; ok {
		s, isString := v.(string)
		if !isString {
			return opts, errors.New("runtime option virtualenv must be a string")
		}
		opts.Virtualenv = s
	}
	if v, ok := raw["toolchain"]; ok {
		switch v {
		case "pip":
			opts.Toolchain = toolchain.Pip
		case "poetry":
			opts.Toolchain = toolchain.Poetry
		case "uv":
			opts.Toolchain = toolchain.Uv
		default:
			return opts, fmt.Errorf("unsupported runtime option toolchain: %v", v)
		}
	}
	if v, ok := raw["typechecker"]; ok {
		return opts, fmt.Errorf("runtime option typechecker (%v) is not supported by this language host build", v)
	}
	if isPlugin && (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

func resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, toolchain.PythonOptions, error) {
	opts, err := pythonOptions(info)
	if err != nil {
		return nil, opts, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return tc, opts, err
}

func (h *pythonHost) Handshake(
	ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.engineAddress = req.GetEngineAddress()
	watch, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	if err := rpcutil.Healthcheck(watch, h.engineAddress, 5*time.Minute, stop); err != nil {
		return nil, fmt.Errorf("could not start the engine health check: %w", err)
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *pythonHost) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancelFunc()
	return &emptypb.Empty{}, nil
}

// engineLog streams a command's output to the engine as ephemeral diagnostics (what `pulumi preview`
// shows while the virtualenv is being created).
type engineLog struct {
	ctx      context.Context
	client   pulumirpc.EngineClient
	severity pulumirpc.LogSeverity
	stream   int32
}

func (w *engineLog) Write(p []byte) (int, error) {
	_, err := w.client.Log(w.ctx, &pulumirpc.LogRequest{
		Message: strings.ToValidUTF8(string(p), "?"), Ephemeral: true, StreamId: w.stream, Severity: w.severity,
	})
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *pythonHost) engineWriters(ctx context.Context) (io.Writer, io.Writer, io.Closer, error) {
	if h.engineAddress == "" {
		return io.Discard, io.Discard, noClose{}, nil
	}
	conn, err := grpc.NewClient(h.engineAddress,
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return nil, nil, nil, fmt.Errorf("language host could not connect to the engine: %w", err)
	}
	client := pulumirpc.NewEngineClient(conn)
	stream := int32(time.Now().UnixNano() & 0x7fffffff)
	return &engineLog{ctx, client, pulumirpc.LogSeverity_INFO, stream},
		&engineLog{ctx, client, pulumirpc.LogSeverity_ERROR, stream}, conn, nil
}

type noClose struct{}

func (noClose) Close() error { return nil }

// packageScript prints, for every installed distribution that is a Pulumi package, its name,
// version and pulumi-plugin.json (if it ships one). A distribution counts as a Pulumi package when
// it ships pulumi-plugin.json or its name starts with "pulumi-" (the upstream host's rule).
const packageScript = `import importlib.metadata as md, json, sys
out = []
for dist in md.distributions():
    name = dist.metadata["Name"]
    if not name:
        continue
    plugin = None
    for f in dist.files or []:
        if f.name == "pulumi-plugin.json" and len(f.parts) == 2:
            try:
                plugin = json.loads(f.read_text() or "null")
            except (OSError, ValueError):
                plugin = None
            break
    if plugin is not None or name.lower().startswith("pulumi-"):
        out.append({"name": name, "version": dist.version, "plugin": plugin})
json.dump(out, sys.stdout)
`

type pulumiPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Plugin  *struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"plugin"`
}

// Distributions known to carry no resource plugin although their names start with "pulumi-".
var withoutPlugin = map[string]bool{"pulumi-policy": true, "pulumi-esc-sdk": true}

var plainVersion = regexp.MustCompile(`^\d+(\.\d+){0,2}$`)

// pluginVersion turns a plain PEP 440 release ("4.21.4", "10.2") into a plugin version.
// Pre-releases and local versions cannot be mapped reliably, so the package is then not reported
// (the engine still learns the version from each RegisterResource call).
func pluginVersion(pkgVersion string) (string, bool) {
	if !plainVersion.MatchString(pkgVersion) {
		return "", false
	}
	parts := strings.Split(pkgVersion, ".")
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return "v" + strings.Join(parts, "."), true
}

// GetRequiredPackages reports the resource plugins of the Pulumi packages installed in the
// program's virtualenv, like the upstream host. The engine only tries to install the missing ones;
// with PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true it downloads nothing, and a missing plugin
// fails the run only when the program registers a resource of that package.
func (h *pythonHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	tc, _, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	stdout, stderr, closer, err := h.engineWriters(ctx)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	// Same as upstream: a missing virtualenv is created and filled from requirements.txt.
	if err := tc.EnsureVenv(ctx, req.GetInfo().GetProgramDirectory(), false, true, stdout, stderr); err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", packageScript)
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the Pulumi packages of the virtualenv: %w", err)
	}
	var found []pulumiPackage
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("reading the Pulumi package list: %w", err)
	}
	var deps []*pulumirpc.PackageDependency
	for _, pkg := range found {
		if withoutPlugin[strings.ToLower(pkg.Name)] {
			continue
		}
		name, ver, server := strings.TrimPrefix(strings.ToLower(pkg.Name), "pulumi-"), "", ""
		if pkg.Plugin != nil {
			if !pkg.Plugin.Resource {
				continue
			}
			if pkg.Plugin.Name != "" {
				name = pkg.Plugin.Name
			}
			ver, server = pkg.Plugin.Version, pkg.Plugin.Server
		}
		if ver == "" {
			var ok bool
			if ver, ok = pluginVersion(pkg.Version); !ok {
				logging.V(5).Infof("GetRequiredPackages: no plugin version for %s %s", pkg.Name, pkg.Version)
				continue
			}
		}
		if !strings.HasPrefix(ver, "v") {
			ver = "v" + ver
		}
		deps = append(deps, &pulumirpc.PackageDependency{Name: name, Version: ver, Kind: "resource", Server: server})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: deps}, nil
}

// Run executes the program: `python pulumi-language-python-exec --monitor … PROGRAM ARGS…` in the
// project's virtualenv, with the stack config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS.
func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if h.engineAddress == "" {
		return nil, errors.New("Handshake must be called before Run")
	}
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "attaching a debugger is not supported by this language host build"}, nil
	}
	tc, _, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	args := append([]string{h.executor}, h.executorArgs(req)...)
	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, fmt.Errorf("serializing the stack config: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("serializing the secret config keys: %w", err)
	}

	// Stop the program when the engine cancels (Cancel RPC) or the request ends.
	runCtx, stopRun := context.WithCancel(h.cancelCtx)
	defer stopRun()
	context.AfterFunc(ctx, stopRun)
	cmd, err := tc.Command(runCtx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Cancel = func() error {
		// SIGINT first: the SDK then finishes in-flight registrations; SIGKILL after WaitDelay.
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	if req.GetConfig() != nil {
		env = append(env, configEnvVar+"="+string(config))
	}
	cmd.Env = append(env, configSecretKeysEnvVar+"="+string(secretKeysJSON))
	logging.V(5).Infof("language host launching: %s", strings.Join(args, " "))

	if err := cmd.Run(); err != nil {
		// A program that crashes fast must not lose its last output.
		_ = os.Stdout.Sync()
		_ = os.Stderr.Sync()
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				switch {
				case status.Exited() && status.ExitStatus() == exitAfterUserMessage:
					return &pulumirpc.RunResponse{Bail: true}, nil
				case status.Exited() && status.ExitStatus() != 0:
					return &pulumirpc.RunResponse{
						Error: fmt.Sprintf("program exited with non-zero exit code: %d", status.ExitStatus()),
					}, nil
				}
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("program exited unexpectedly: %v", exitErr)}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// executorArgs are the flags pulumi-language-python-exec parses, then the entry point and its args.
func (h *pythonHost) executorArgs(req *pulumirpc.RunRequest) []string {
	var args []string
	flagIfSet := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flagIfSet("monitor", req.GetMonitorAddress())
	flagIfSet("engine", h.engineAddress)
	flagIfSet("project", req.GetProject())
	flagIfSet("root_directory", req.GetInfo().GetRootDirectory())
	flagIfSet("stack", req.GetStack())
	flagIfSet("pwd", req.GetPwd())
	flagIfSet("dry_run", strconv.FormatBool(req.GetDryRun()))
	flagIfSet("parallel", strconv.Itoa(int(req.GetParallel())))
	flagIfSet("tracing", h.tracing)
	flagIfSet("organization", req.GetOrganization())
	args = append(args, req.GetInfo().GetEntryPoint())
	return append(args, req.GetArgs()...)
}

// InstallDependencies backs `pulumi install`: creates the virtualenv if needed and installs
// requirements.txt into it with the project's toolchain.
func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	if req.GetIsPlugin() {
		return errors.New("installing Python plugins is not supported by this language host build")
	}
	tc, _, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return err
	}
	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()
	// The CLI prints its own "Installing…" / "Finished installing dependencies" around this.
	if err := tc.InstallDependencies(server.Context(), req.GetInfo().GetProgramDirectory(),
		req.GetUseLanguageVersionTools(), true, stdout, stderr); err != nil {
		return err
	}
	return closer.Close()
}

// RuntimeOptionsPrompts asks nothing: projects of this host declare their options in Pulumi.yaml.
func (h *pythonHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

// About reports the interpreter and toolchain the project runs with (`pulumi about`).
func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	info := req.GetInfo()
	if info == nil {
		info = &pulumirpc.ProgramInfo{}
	}
	tc, opts, err := resolveToolchain(info)
	if err != nil {
		return nil, err
	}
	about, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: about.PythonExecutable,
		Version:    about.PythonVersion.String(),
		Metadata: map[string]string{
			"toolchain":        toolchain.Name(opts.Toolchain),
			"toolchainVersion": about.ToolchainVersion.String(),
			"languageHost":     "kestra-gcp build of pulumi-language-python " + version.Version,
		},
	}, nil
}

// GetProgramDependencies lists the virtualenv's packages (`pulumi about`).
func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, _, err := resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, fmt.Errorf("listing the Python dependencies: %w", err)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// policyConfigSecretKeysEnvVar tells a policy pack which stack config keys are secrets. Upstream's
// host passes the decrypted config (PULUMI_CONFIG) but drops the secret-key list the engine sends
// with it; we pass it on too, under the variable the program's SDK reads it from, so a pack can
// treat every secret config value as a secret (our pack refuses flows that contain one).
const policyConfigSecretKeysEnvVar = configSecretKeysEnvVar

// RunPlugin runs a Python plugin, with the upstream host's semantics (sdk/python/cmd/
// pulumi-language-python RunPlugin):
//   - a policy pack (kind analyzer) runs as `python -u -m pulumi.policy ARGS… PACK_DIR` in the
//     pack's own directory, in the virtualenv its PulumiPolicy.yaml names (ambient Python if none);
//     it first gets the stack's configuration through the SDK's policy proxy, which answers the
//     engine's Handshake/ConfigureStack, and the pack is started with PULUMI_ORGANIZATION,
//     PULUMI_PROJECT, PULUMI_STACK, PULUMI_DRY_RUN and PULUMI_CONFIG (plus, here,
//     PULUMI_CONFIG_SECRET_KEYS) set, then every other analyzer call is proxied to it;
//   - any other plugin runs its `__main__.py` (`python DIR ARGS…` in the caller's directory), or,
//     without one, `python -m pulumi.run.plugin NAME ARGS…` for a buildable package, in `venv`
//     unless its options name another virtualenv;
//   - the environment is this host's plus the request's Env; a plugin that exits non-zero is
//     reported as its exit code (not an RPC error), as the engine expects.
//
// Differences, each marked below: PULUMI_CONFIG_SECRET_KEYS for policy packs, a missing
// virtualenv reported up front, and a pack that cannot be started fails the proxy at once.
func (h *pythonHost) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := server.Context()
	if h.engineAddress == "" {
		return errors.New("Handshake must be called before RunPlugin")
	}
	if req.GetAttachDebugger() {
		return errors.New("attaching a debugger is not supported by this language host build")
	}
	isAnalyzer := req.GetKind() == string(apitype.AnalyzerPlugin)
	info := req.GetInfo()
	opts, err := pluginOptions(info, !isAnalyzer)
	if err != nil {
		return err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return err
	}
	// Unlike upstream, a missing virtualenv is reported before anything starts, with the SDK's
	// own message naming it (upstream fails later, when the interpreter cannot be executed).
	if err := tc.ValidateVenv(ctx); err != nil {
		return err
	}

	hasMainPy := true
	if _, err := os.Stat(filepath.Join(opts.Root, "__main__.py")); err != nil {
		if !os.IsNotExist(err) {
			return fmt.Errorf("looking for __main__.py: %w", err)
		}
		hasMainPy = false
	}
	// An old pulumi SDK in the plugin's environment has no pulumi.run.plugin: then only the
	// bare-directory form works.
	hasPluginRunModule := true
	check, err := tc.Command(ctx, "-c", "import pulumi.run.plugin")
	if err != nil {
		return err
	}
	if out, err := check.CombinedOutput(); err != nil && strings.Contains(string(out), "ModuleNotFoundError") {
		hasPluginRunModule = false
	}

	var cmd *exec.Cmd
	if hasPluginRunModule && !hasMainPy {
		buildable, err := toolchain.IsBuildablePackage(opts.Root)
		if err != nil {
			return fmt.Errorf("checking if plugin is a buildable package: %w", err)
		}
		if !buildable {
			return errors.New("plugin is not runnable, it provides neither __main__.py nor a buildable pyproject.toml")
		}
		pyproject, err := toolchain.LoadPyproject(opts.Root)
		if err != nil {
			return fmt.Errorf("loading pyproject: %w", err)
		}
		cmd, err = tc.ModuleCommand(ctx, "pulumi.run.plugin", append([]string{pyproject.Project.Name}, req.GetArgs()...)...)
		if err != nil {
			return err
		}
	} else {
		var args []string
		if isAnalyzer {
			// Policy packs get the program directory last (they used to be started by a shim,
			// pulumi-analyzer-policy-python, with these arguments).
			args = append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
			args = append(args, info.GetProgramDirectory())
		} else {
			args = append([]string{info.GetProgramDirectory()}, req.GetArgs()...)
		}
		if cmd, err = tc.Command(ctx, args...); err != nil {
			return err
		}
	}
	logging.V(5).Infof("RunPlugin: %s", cmd.String())

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	// Policy packs have always run in their own directory.
	if isAnalyzer {
		cmd.Dir = info.GetProgramDirectory()
	} else {
		cmd.Dir = req.GetPwd()
	}
	if cmd.Env == nil { // a nil Env would inherit ours; appending to it must not lose that
		cmd.Env = os.Environ()
	}

	var proxy *sdk.PolicyProxy
	if isAnalyzer {
		proxy, stdout, err = sdk.NewPolicyProxy(ctx, stdout)
		if err != nil {
			return fmt.Errorf("could not start policy pack proxy: %w", err)
		}
		config, err := proxy.AwaitConfiguration(ctx)
		if err != nil {
			return fmt.Errorf("could not get stack configuration: %w", err)
		}
		if config != nil {
			setIfSet := func(k, v string) {
				if v != "" {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
			}
			setIfSet("PULUMI_ORGANIZATION", config.GetOrganization())
			setIfSet("PULUMI_PROJECT", config.GetProject())
			setIfSet("PULUMI_STACK", config.GetStack())
			setIfSet("PULUMI_DRY_RUN", strconv.FormatBool(config.GetDryRun()))
			if config.GetConfig() != nil {
				configJSON, err := json.Marshal(config.GetConfig())
				if err != nil {
					return fmt.Errorf("could not marshal stack configuration: %w", err)
				}
				setIfSet(configEnvVar, string(configJSON))
				keys := config.GetConfigSecretKeys()
				if keys == nil {
					keys = []string{}
				}
				keysJSON, err := json.Marshal(keys)
				if err != nil {
					return fmt.Errorf("could not marshal secret config keys: %w", err)
				}
				setIfSet(policyConfigSecretKeysEnvVar, string(keysJSON))
			}
		}
	}
	cmd.Env = append(cmd.Env, req.GetEnv()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	run := func() error {
		if err := cmd.Start(); err != nil {
			if proxy != nil { // not upstream: the engine's pending calls get the reason, not a hang
				proxy.Abort(err)
			}
			return err
		}
		if proxy != nil {
			// Waits for the pack to print its port, proxies the engine's calls to it, and
			// returns when the pack exits.
			return proxy.Attach(ctx, cmd)
		}
		return cmd.Wait()
	}
	if err := run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				return server.Send(&pulumirpc.RunPluginResponse{
					Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(status.ExitStatus())},
				})
			}
			return fmt.Errorf("plugin exited unexpectedly: %w", exitErr)
		}
		return fmt.Errorf("problem executing plugin program (could not run language executor): %w", err)
	}
	return closer.Close()
}
