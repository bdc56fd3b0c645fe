package main

import (
	"context"
	"os"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const resourceToken = "command:local:Command"

type commandProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	log    *engineLogger // nil in unit tests
	runner *runner
}

func newCommandProvider(log *engineLogger, r *runner) *commandProvider {
	return &commandProvider{log: log, runner: r}
}

func onlyCommand(what string) error {
	return status.Errorf(codes.Unimplemented,
		"forensic-lab's command provider implements only %s (asked for %s)", resourceToken, what)
}

func checkToken(urn string) error {
	if t := resource.URN(urn).Type(); t != resourceToken {
		return onlyCommand(string(t))
	}
	return nil
}

func unmarshal(label string, s *structpb.Struct) (resource.PropertyMap, error) {
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{
		Label:         label,
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
		SkipNulls:     true,
	})
	if m == nil {
		m = resource.PropertyMap{}
	}
	return m, err
}

func marshal(label string, m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, plugin.MarshalOptions{
		Label:         label,
		KeepUnknowns:  true,
		KeepSecrets:   true,
		KeepResources: true,
	})
}

func timeoutOf(seconds float64) time.Duration {
	if seconds <= 0 {
		return 0
	}
	return time.Duration(seconds * float64(time.Second))
}

// ---- plugin-level RPCs ----

func (p *commandProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: providerVersion}, nil
}

func (p *commandProvider) GetSchema(_ context.Context, req *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	if req.GetSubpackageName() != "" {
		return nil, status.Errorf(codes.InvalidArgument, "no subpackage %q", req.GetSubpackageName())
	}
	return &pulumirpc.GetSchemaResponse{Schema: schemaJSON()}, nil
}

func (p *commandProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *commandProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	// The provider has no configuration.
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *commandProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// AcceptSecrets: secret inputs (stdin, environment, ...) arrive as secrets and
	// are returned as secrets in the outputs, so the engine keeps them encrypted
	// in the state, exactly as with the official provider (which also accepts
	// secrets). stdout/stderr are plain, as in v1.2.1 (use additionalSecretOutputs).
	return &pulumirpc.ConfigureResponse{
		AcceptSecrets:   true,
		AcceptResources: true,
		SupportsPreview: true,
	}, nil
}

func (p *commandProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.runner.cancelAll()
	return &emptypb.Empty{}, nil
}

func (p *commandProvider) Invoke(_ context.Context, req *pulumirpc.InvokeRequest) (*pulumirpc.InvokeResponse, error) {
	return nil, onlyCommand("invoke " + req.GetTok())
}

func (p *commandProvider) Call(_ context.Context, req *pulumirpc.CallRequest) (*pulumirpc.CallResponse, error) {
	return nil, onlyCommand("call " + req.GetTok())
}

func (p *commandProvider) Construct(_ context.Context, req *pulumirpc.ConstructRequest) (*pulumirpc.ConstructResponse, error) {
	return nil, onlyCommand(req.GetType())
}

// ---- resource RPCs ----

func (p *commandProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal("check.news", req.GetNews())
	if err != nil {
		return nil, err
	}
	// Like v1.2.1, no defaults are written into the inputs: the defaults
	// (interpreter, logging, addPreviousOutputInEnv) are applied when running.
	inputs, err := marshal("check.inputs", news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: checkInputs(news)}, nil
}

func (p *commandProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := unmarshal("diff.olds", req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal("diff.news", req.GetNews())
	if err != nil {
		return nil, err
	}
	oldInputs := inputsOnly(state) // engines before old-inputs support
	if req.GetOldInputs() != nil {
		if oldInputs, err = unmarshal("diff.oldInputs", req.GetOldInputs()); err != nil {
			return nil, err
		}
	}
	news = applyIgnoreChanges(state, news, req.GetIgnoreChanges())
	return computeDiff(oldInputs, news), nil
}

func (p *commandProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	props, err := unmarshal("create.properties", req.GetProperties())
	if err != nil {
		return nil, err
	}
	id, err := resource.NewUniqueHex(urn.Name(), 8, 0)
	if err != nil {
		return nil, err
	}
	outs := props.Copy()
	if req.GetPreview() {
		// Nothing runs in a preview; stdout/stderr are not known yet.
		outs[propStdout] = resource.MakeComputed(resource.NewStringProperty(""))
		outs[propStderr] = resource.MakeComputed(resource.NewStringProperty(""))
		return p.createResponse(id, outs)
	}
	in, err := decodeInputs(props)
	if err != nil {
		return nil, err
	}
	outs[propStdout] = resource.NewStringProperty("")
	outs[propStderr] = resource.NewStringProperty("")
	if in.create != nil {
		res, err := p.run(ctx, urn, *in.create, in, "", "", req.GetTimeout())
		if err != nil {
			// No partial state: a failed create leaves nothing in the state.
			return nil, err
		}
		outs[propStdout] = resource.NewStringProperty(res.stdout)
		outs[propStderr] = resource.NewStringProperty(res.stderr)
	}
	return p.createResponse(id, outs)
}

func (p *commandProvider) createResponse(id string, outs resource.PropertyMap) (*pulumirpc.CreateResponse, error) {
	s, err := marshal("create.outputs", outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: s}, nil
}

func (p *commandProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	// Refresh never re-runs a command: the state is returned unchanged.
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *commandProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	urn := resource.URN(req.GetUrn())
	state, err := unmarshal("update.olds", req.GetOlds())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal("update.news", req.GetNews())
	if err != nil {
		return nil, err
	}
	news = applyIgnoreChanges(state, news, req.GetIgnoreChanges())

	outs := news.Copy()
	outs[propStdout] = stateOutput(state, propStdout)
	outs[propStderr] = stateOutput(state, propStderr)
	if req.GetPreview() {
		if inputsOnly(state).Diff(news) != nil {
			outs[propStdout] = resource.MakeComputed(resource.NewStringProperty(""))
			outs[propStderr] = resource.MakeComputed(resource.NewStringProperty(""))
		}
		return p.updateResponse(outs)
	}
	in, err := decodeInputs(news)
	if err != nil {
		return nil, err
	}
	// `update` if set, else `create`; neither: keep the previous outputs.
	cmd := in.update
	if cmd == nil {
		cmd = in.create
	}
	if cmd == nil {
		return p.updateResponse(outs)
	}
	res, err := p.run(ctx, urn, *cmd, in,
		stringProp(state, propStdout), stringProp(state, propStderr), req.GetTimeout())
	if err != nil {
		return nil, err // the engine keeps the old state
	}
	outs[propStdout] = resource.NewStringProperty(res.stdout)
	outs[propStderr] = resource.NewStringProperty(res.stderr)
	return p.updateResponse(outs)
}

// stateOutput returns state[k] (keeping a secret marker) or "".
func stateOutput(state resource.PropertyMap, k resource.PropertyKey) resource.PropertyValue {
	if v, ok := state[k]; ok && !v.IsNull() {
		return v
	}
	return resource.NewStringProperty("")
}

func (p *commandProvider) updateResponse(outs resource.PropertyMap) (*pulumirpc.UpdateResponse, error) {
	s, err := marshal("update.outputs", outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: s}, nil
}

func (p *commandProvider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkToken(req.GetUrn()); err != nil {
		return nil, err
	}
	state, err := unmarshal("delete.properties", req.GetProperties())
	if err != nil {
		return nil, err
	}
	in, err := decodeInputs(state)
	if err != nil {
		return nil, err
	}
	if in.delete != nil {
		_, err := p.run(ctx, resource.URN(req.GetUrn()), *in.delete, in,
			stringProp(state, propStdout), stringProp(state, propStderr), req.GetTimeout())
		if err != nil {
			return nil, err
		}
	}
	return &emptypb.Empty{}, nil
}

// run executes one of the resource's commands with its inputs.
func (p *commandProvider) run(
	ctx context.Context, urn resource.URN, command string, in commandInputs,
	prevStdout, prevStderr string, timeoutSeconds float64,
) (runResult, error) {
	spec := runSpec{
		command:     command,
		interpreter: in.interpreter,
		dir:         in.dir,
		env:         buildEnv(os.Environ(), in.environment, in.addPrev, prevStdout, prevStderr),
		stdin:       in.stdin,
		logStdout:   in.logStdout(),
		logStderr:   in.logStderr(),
		timeout:     timeoutOf(timeoutSeconds),
	}
	var log func(string)
	if p.log != nil {
		log = func(line string) { p.log.logStatus(ctx, urn, line) }
	}
	return p.runner.run(ctx, spec, log)
}
