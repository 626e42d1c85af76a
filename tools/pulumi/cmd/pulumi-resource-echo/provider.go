package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// logEnvVar names a file every create, update and delete is appended to, one JSON object a
// line, so tests can see what the engine asked for (keepData: which resources it deleted).
const logEnvVar = "PULUMI_ECHO_PLUGIN_LOG"

type echoProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	name    string
	version string
	spec    providerSpec

	mu     sync.Mutex
	config map[string]string
}

func newProvider(name, version string) *echoProvider {
	return &echoProvider{name: name, version: version, spec: providers[name], config: map[string]string{}}
}

// Secrets and unknowns travel marked, as between the engine and a real provider that accepts
// secrets (Configure answers acceptSecrets): outputs keep the secret marks of their inputs.
func (p *echoProvider) unmarshal(s *structpb.Struct, label string) (resource.PropertyMap, error) {
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true, KeepResources: true, SkipNulls: true,
	})
}

func (p *echoProvider) marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label: label, KeepUnknowns: true, KeepSecrets: true, KeepResources: true,
	})
}

func (p *echoProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

// GetSchema answers the minimal schema naming the package and version: the engine needs no more
// to run a program, and the echo plugins know no types beyond their table.
func (p *echoProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	schema, _ := json.Marshal(map[string]string{"name": p.name, "version": p.version})
	return &pulumirpc.GetSchemaResponse{Schema: string(schema)}, nil
}

func (p *echoProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

// DiffConfig reports changed keys; only the keys the real provider replaces itself on
// (providerSpec.replaceConfig: kubernetes' clusterIdentifier) replace the provider. The gcp,
// docker and random providers have none: their resources carry their project and region.
func (p *echoProvider) DiffConfig(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := p.unmarshal(oldInputs(req), "diffConfig.olds")
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "diffConfig.news")
	if err != nil {
		return nil, err
	}
	var diffs, replaces []string
	for _, k := range changedKeys(olds, news, nil) {
		if k != "version" {
			diffs = append(diffs, k)
			if contains(p.spec.replaceConfig, k) {
				replaces = append(replaces, k)
			}
		}
	}
	changes := pulumirpc.DiffResponse_DIFF_NONE
	if len(diffs) > 0 {
		changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return &pulumirpc.DiffResponse{Changes: changes, Diffs: diffs, Replaces: replaces}, nil
}

func (p *echoProvider) Configure(_ context.Context, req *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	prefix := p.name + ":config:"
	for k, v := range req.GetVariables() {
		p.config[strings.TrimPrefix(k, prefix)] = v
	}
	if args := req.GetArgs(); args != nil {
		for k, v := range args.AsMap() {
			if s, ok := v.(string); ok {
				p.config[k] = s
			}
		}
	}
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true, AcceptResources: true}, nil
}

func (p *echoProvider) specFor(typ string) (resourceSpec, error) {
	spec, ok := resources[typ]
	if !ok || providerOf(typ) != p.name {
		return spec, fmt.Errorf("the echo plugin %s has no row for resource type %s: add one to "+
			"tools/pulumi/cmd/pulumi-resource-echo/table.go", p.name, typ)
	}
	return spec, nil
}

func typeOf(urn string) string {
	return resource.URN(urn).Type().String()
}

// Check echoes the inputs: the real providers' defaults are not applied, so what the program
// sends is what it gets back — except the name a real provider gives a resource the program
// leaves unnamed (the spec's autonaming), which it keeps from the old inputs once given.
func (p *echoProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	spec, err := p.specFor(typeOf(req.GetUrn()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if spec.autoname == nil {
		return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
	}
	news, err := p.unmarshal(req.GetNews(), "check.news")
	if err != nil {
		return nil, err
	}
	olds, err := p.unmarshal(req.GetOlds(), "check.olds")
	if err != nil {
		return nil, err
	}
	named, err := spec.autoname.apply(news, olds, resource.URN(req.GetUrn()).Name(), req.GetRandomSeed())
	if err != nil {
		return nil, err
	}
	inputs, err := p.marshal(named, "check.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs}, nil
}

func oldInputs(req *pulumirpc.DiffRequest) *structpb.Struct {
	if req.GetOldInputs() != nil {
		return req.GetOldInputs()
	}
	return req.GetOlds()
}

// changedKeys lists the top-level keys whose values differ between old and new inputs (secret
// wrappers aside; an unknown new value counts as a change), skipping internal and ignored keys.
func changedKeys(olds, news resource.PropertyMap, ignore []string) []string {
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	var changed []string
	for k := range keys {
		name := string(k)
		if strings.HasPrefix(name, "__") || contains(ignore, name) {
			continue
		}
		o, n := olds[k], news[k]
		if n.ContainsUnknowns() || !deepUnwrap(o).DeepEquals(deepUnwrap(n)) {
			changed = append(changed, name)
		}
	}
	sort.Strings(changed)
	return changed
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// deepUnwrap removes every secret wrapper in a value, so a diff compares what is stored.
func deepUnwrap(v resource.PropertyValue) resource.PropertyValue {
	v = unwrap(v)
	switch {
	case v.IsArray():
		out := make([]resource.PropertyValue, len(v.ArrayValue()))
		for i, e := range v.ArrayValue() {
			out[i] = deepUnwrap(e)
		}
		return resource.NewProperty(out)
	case v.IsObject():
		out := resource.PropertyMap{}
		for k, e := range v.ObjectValue() {
			out[k] = deepUnwrap(e)
		}
		return resource.NewProperty(out)
	}
	return v
}

// Diff compares old and new inputs property by property: whatever the program sends differently
// is a change (so an input that differs on every run is a perpetual diff), and a change to a
// property the real provider forces new on is a replacement.
func (p *echoProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	spec, err := p.specFor(typeOf(req.GetUrn()))
	if err != nil {
		return nil, err
	}
	olds, err := p.unmarshal(oldInputs(req), "diff.olds")
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "diff.news")
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.DiffResponse{
		Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true,
		DetailedDiff: map[string]*pulumirpc.PropertyDiff{},
	}
	for _, k := range changedKeys(olds, news, req.GetIgnoreChanges()) {
		_, had := olds[resource.PropertyKey(k)]
		_, has := news[resource.PropertyKey(k)]
		kind := pulumirpc.PropertyDiff_UPDATE
		switch {
		case !had:
			kind = pulumirpc.PropertyDiff_ADD
		case !has:
			kind = pulumirpc.PropertyDiff_DELETE
		}
		if spec.replaceable(k) {
			resp.Replaces = append(resp.Replaces, k)
			kind += 1 // each *_REPLACE kind follows its plain kind
		}
		resp.Diffs = append(resp.Diffs, k)
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	if len(resp.Diffs) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp, nil
}

// outputs computes inputs plus the table's rows. previous holds the outputs of an earlier
// create (generated values are kept from it); preview leaves unknown what cannot be known yet.
func (p *echoProvider) outputs(
	urn string, id string, inputs, previous resource.PropertyMap, preview bool,
) (string, resource.PropertyMap, error) {
	spec, err := p.specFor(typeOf(urn))
	if err != nil {
		return "", nil, err
	}
	p.mu.Lock()
	config := map[string]string{}
	for k, v := range p.config {
		config[k] = v
	}
	p.mu.Unlock()
	out := inputs.Copy()
	r := &rowContext{urn: urn, inputs: inputs, outputs: out, config: config, defaults: p.spec.configDefaults, id: id}

	evaluate := func(v value, keep resource.PropertyValue, hasKeep bool) (resource.PropertyValue, error) {
		if v.generate != nil {
			if hasKeep {
				return keep, nil
			}
			if preview {
				return resource.MakeComputed(resource.NewProperty("")), nil
			}
			return v.generate(r), nil
		}
		value, known, err := r.render(v.template)
		if err != nil {
			return resource.PropertyValue{}, err
		}
		if !known {
			return resource.MakeComputed(resource.NewProperty("")), nil
		}
		return value, nil
	}
	// A generated id (made from inputs only) comes first, so rows may use it; a templated id
	// comes last, so it may use computed rows.
	if spec.id.generate != nil && !spec.idLast && r.id == "" && !preview {
		r.id = spec.id.generate(r).StringValue()
	}
	for _, row := range spec.computed {
		old, hasOld := previous[resource.PropertyKey(row.attr)]
		v, err := evaluate(row.value, unwrap(old), hasOld && !old.ContainsUnknowns())
		if err != nil {
			return "", nil, fmt.Errorf("%s %s: %w", typeOf(urn), row.attr, err)
		}
		if row.secret && !v.IsComputed() {
			v = resource.MakeSecret(v)
		}
		out[resource.PropertyKey(row.attr)] = v
	}
	if spec.idLast && r.id == "" && !preview {
		r.id = spec.id.generate(r).StringValue()
	}
	if spec.id.generate == nil && r.id == "" {
		v, known, err := r.render(spec.id.template)
		if err != nil {
			return "", nil, fmt.Errorf("%s id: %w", typeOf(urn), err)
		}
		if known {
			r.id = unwrap(v).StringValue()
		}
	}
	return r.id, out, nil
}

func (p *echoProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, err := p.unmarshal(req.GetProperties(), "create.properties")
	if err != nil {
		return nil, err
	}
	if !req.GetPreview() {
		if err := p.dockerRefusesCreate(typeOf(req.GetUrn()), inputs); err != nil { // refusals_docker.go
			return nil, err
		}
	}
	id, outs, err := p.outputs(req.GetUrn(), "", inputs, nil, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := p.marshal(outs, "create.outputs")
	if err != nil {
		return nil, err
	}
	if !req.GetPreview() {
		// What GCP would refuse, and creates that take Google a while (refusals.go).
		if err := p.refuse("create", req.GetUrn(), outs); err != nil {
			return nil, err
		}
		if err := networkWrite(req.GetUrn(), inputs, true); err != nil { // refusals_network.go
			return nil, err
		}
		provisioned := p.provision(req.GetUrn(), id, outs)
		p.record("create", req.GetUrn(), id)
		p.keep(req.GetUrn(), id, outs)
		provisioned()
		if err := p.dockerStartContainer(ctx, typeOf(req.GetUrn()), id, inputs, props, req.GetProperties(),
			req.GetTimeout()); err != nil { // refusals_docker.go
			return nil, err
		}
		if err := p.helmAwait(typeOf(req.GetUrn()), id, outs, props, req.GetProperties()); err != nil { // refusals_helm.go
			return nil, err
		}
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

// Read of a resource in the state has nothing live to look at: the resource is as the state says.
func (p *echoProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if _, err := p.specFor(typeOf(req.GetUrn())); err != nil {
		return nil, err
	}
	if len(req.GetProperties().GetFields()) == 0 { // a get (Resource.get): the echo cloud answers
		return p.readLive(req) // refusals_network.go
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *echoProvider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := p.unmarshal(req.GetOlds(), "update.olds")
	if err != nil {
		return nil, err
	}
	news, err := p.unmarshal(req.GetNews(), "update.news")
	if err != nil {
		return nil, err
	}
	_, outs, err := p.outputs(req.GetUrn(), req.GetId(), news, olds, req.GetPreview())
	if err != nil {
		return nil, err
	}
	props, err := p.marshal(outs, "update.outputs")
	if err != nil {
		return nil, err
	}
	if !req.GetPreview() {
		if err := networkWrite(req.GetUrn(), news, false); err != nil { // refusals_network.go
			return nil, err
		}
		p.record("update", req.GetUrn(), req.GetId())
		p.keep(req.GetUrn(), req.GetId(), outs)
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *echoProvider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	props, err := p.unmarshal(req.GetProperties(), "delete.properties")
	if err != nil {
		return nil, err
	}
	if err := p.refuse("delete", req.GetUrn(), props); err != nil {
		return nil, err
	}
	if err := p.dockerRefusesDelete(typeOf(req.GetUrn()), props); err != nil { // refusals_docker.go
		return nil, err
	}
	keep, err := networkDelete(req.GetUrn(), props) // refusals_network.go
	if err != nil {
		return nil, err
	}
	p.record("delete", req.GetUrn(), req.GetId())
	if !keep {
		p.forget(req.GetUrn(), req.GetId())
	}
	return &emptypb.Empty{}, nil
}

func (p *echoProvider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	answer, ok := invokes[req.GetTok()]
	if !ok || providerOf(req.GetTok()) != p.name {
		return nil, fmt.Errorf("the echo plugin %s does not answer invoke %s: add it to "+
			"tools/pulumi/cmd/pulumi-resource-echo/table.go", p.name, req.GetTok())
	}
	args, err := p.unmarshal(req.GetArgs(), "invoke.args")
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	config := map[string]string{}
	for k, v := range p.config {
		config[k] = v
	}
	p.mu.Unlock()
	result, err := answer(&rowContext{inputs: args, outputs: args, config: config, defaults: p.spec.configDefaults})
	if err != nil {
		return &pulumirpc.InvokeResponse{Failures: []*pulumirpc.CheckFailure{{Reason: err.Error()}}}, nil
	}
	ret, err := p.marshal(result, "invoke.return")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.InvokeResponse{Return: ret}, nil
}

func (p *echoProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

var logMu sync.Mutex

// record appends one line to the operation log, if one is configured. Each line is written with
// a single append, so the lines of plugins running side by side do not interleave.
func (p *echoProvider) record(op, urn, id string) {
	path := os.Getenv(logEnvVar)
	if path == "" {
		return
	}
	line, _ := json.Marshal(map[string]string{
		"op": op, "provider": p.name, "type": typeOf(urn), "urn": urn, "id": id,
	})
	logMu.Lock()
	defer logMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo plugin: cannot write %s: %v\n", path, err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}

// storeEnvVar names a folder that holds, while it exists, one JSON file per live resource:
// {"urn", "type", "provider", "id", "outputs"} with secrets in plaintext — what the cloud would
// hold. Create and Update write it, Delete removes it. The engine tests read it as a cloud's
// API would answer (e.g. the load balancer in front of the gke profile's Kestra serves the SSL
// certificate the stack uploaded; tests/support/echo_cloud.py). Test-only: it holds secrets.
const storeEnvVar = "PULUMI_ECHO_PLUGIN_STORE"

func storePath(dir, urn, id string) string {
	sum := sha256.Sum256([]byte(urn + "\n" + id))
	return filepath.Join(dir, hex.EncodeToString(sum[:16])+".json")
}

func (p *echoProvider) keep(urn, id string, outs resource.PropertyMap) {
	dir := os.Getenv(storeEnvVar)
	if dir == "" {
		return
	}
	doc, err := json.Marshal(map[string]any{
		"urn": urn, "type": typeOf(urn), "provider": p.name, "id": id,
		"outputs": deepUnwrap(resource.NewProperty(outs)).ObjectValue().Mappable(),
	})
	if err == nil {
		err = os.MkdirAll(dir, 0o700)
	}
	if err == nil {
		// Written whole, then renamed: a reader never sees half a file.
		tmp := storePath(dir, urn, id) + ".tmp"
		if err = os.WriteFile(tmp, doc, 0o600); err == nil {
			err = os.Rename(tmp, storePath(dir, urn, id))
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo plugin: cannot store %s in %s: %v\n", urn, dir, err)
	}
}

func (p *echoProvider) forget(urn, id string) {
	if dir := os.Getenv(storeEnvVar); dir != "" {
		_ = os.Remove(storePath(dir, urn, id))
	}
}
