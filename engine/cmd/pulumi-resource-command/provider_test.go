package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const testURN = "urn:pulumi:dev::lab::command:local:Command::step"

var ctx = context.Background()

func mustMarshal(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := marshal("test", m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustUnmarshal(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := unmarshal("test", s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func str(s string) resource.PropertyValue { return resource.NewStringProperty(s) }

func TestCheck(t *testing.T) {
	p := newCommandProvider(nil, newRunner())
	cases := []struct {
		name     string
		news     resource.PropertyMap
		failures []string // properties that fail
	}{
		{"valid", resource.PropertyMap{
			"create": str("true"), "stdin": resource.MakeSecret(str("pw")),
			"interpreter":            resource.NewArrayProperty([]resource.PropertyValue{str("/bin/bash"), str("-c")}),
			"environment":            resource.NewObjectProperty(resource.PropertyMap{"A": str("1")}),
			"triggers":               resource.NewArrayProperty([]resource.PropertyValue{resource.NewNumberProperty(1)}),
			"addPreviousOutputInEnv": resource.NewBoolProperty(false),
			"logging":                str("none"),
		}, nil},
		{"unknowns pass", resource.PropertyMap{
			"create":      resource.MakeComputed(str("")),
			"environment": resource.NewObjectProperty(resource.PropertyMap{"A": resource.MakeComputed(str(""))}),
		}, nil},
		{"wrong types", resource.PropertyMap{
			"create":                 resource.NewNumberProperty(1),
			"interpreter":            resource.NewArrayProperty([]resource.PropertyValue{resource.NewNumberProperty(1)}),
			"environment":            resource.NewObjectProperty(resource.PropertyMap{"A": resource.NewBoolProperty(true)}),
			"addPreviousOutputInEnv": str("yes"),
			"triggers":               str("x"),
			"logging":                str("verbose"),
		}, []string{"addPreviousOutputInEnv", "create", "environment", "interpreter", "logging", "triggers"}},
		{"unsupported and unknown inputs", resource.PropertyMap{
			"assetPaths":   resource.NewArrayProperty(nil),
			"archivePaths": resource.NewArrayProperty([]resource.PropertyValue{str("*")}),
			"bogus":        str("x"),
		}, []string{"archivePaths", "assetPaths", "bogus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: testURN, News: mustMarshal(t, c.news)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range resp.Failures {
				got = append(got, f.Property)
			}
			sortStrings(got)
			if strings.Join(got, ",") != strings.Join(c.failures, ",") {
				t.Fatalf("failures %v, want %v", resp.Failures, c.failures)
			}
			ins := mustUnmarshal(t, resp.Inputs)
			if !ins.DeepEquals(c.news) {
				t.Fatalf("inputs changed: %v -> %v", c.news, ins)
			}
		})
	}
	if _, err := p.Check(ctx, &pulumirpc.CheckRequest{Urn: "urn:pulumi:dev::lab::command:remote:Command::x"}); status.Code(err) != codes.Unimplemented ||
		!strings.Contains(err.Error(), "implements only command:local:Command") {
		t.Fatalf("other token: %v", err)
	}
}

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "created")
	p := newCommandProvider(nil, newRunner())
	inputs := resource.PropertyMap{
		"create": str("touch " + marker + "; cat; echo; echo warn >&2"),
		"stdin":  resource.MakeSecret(str("s3cret")),
	}

	// Preview runs nothing and leaves stdout/stderr unknown.
	resp, err := p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: mustMarshal(t, inputs), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	outs := mustUnmarshal(t, resp.Properties)
	if !outs["stdout"].IsComputed() || !outs["stderr"].IsComputed() {
		t.Fatalf("preview outputs: %v", outs)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("preview ran the command")
	}

	resp, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: mustMarshal(t, inputs)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(resp.Id, "step") || len(resp.Id) != len("step")+8 {
		t.Errorf("id %q", resp.Id)
	}
	outs = mustUnmarshal(t, resp.Properties)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("create did not run")
	}
	if outs["stdout"].StringValue() != "s3cret" || outs["stderr"].StringValue() != "warn" {
		t.Errorf("outputs: %v", outs)
	}
	if !outs["stdin"].IsSecret() || outs["create"].IsSecret() {
		t.Errorf("secretness not preserved: %v", outs)
	}

	// No create command: empty outputs.
	resp, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: mustMarshal(t, resource.PropertyMap{})})
	if err != nil {
		t.Fatal(err)
	}
	if outs = mustUnmarshal(t, resp.Properties); outs["stdout"].StringValue() != "" || !outs["stderr"].IsString() {
		t.Errorf("outputs: %v", outs)
	}

	// A failing create returns an error and no state.
	resp, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Properties: mustMarshal(t,
		resource.PropertyMap{"create": str("echo partial; echo broken >&2; exit 7")})})
	if err == nil || resp != nil {
		t.Fatalf("want error and no response, got %v %v", resp, err)
	}
	for _, s := range []string{"exit status 7", `running "echo partial; echo broken >&2; exit 7"`, "partial", "broken"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}

	// Custom timeout.
	_, err = p.Create(ctx, &pulumirpc.CreateRequest{Urn: testURN, Timeout: 0.5,
		Properties: mustMarshal(t, resource.PropertyMap{"create": str("sleep 30")})})
	if err == nil || !strings.Contains(err.Error(), "timed out after 500ms") {
		t.Fatalf("timeout: %v", err)
	}
}

func TestUpdate(t *testing.T) {
	p := newCommandProvider(nil, newRunner())
	state := resource.PropertyMap{
		"create": str("echo created"),
		"stdout": str("old-out"),
		"stderr": str("old-err"),
	}
	cases := []struct {
		name    string
		news    resource.PropertyMap
		preview bool
		wantOut string // "?" = unknown
		wantErr string
	}{
		{"update command with previous output", resource.PropertyMap{
			"create": str("echo created"), "update": str("echo upd:$PULUMI_COMMAND_STDOUT:$PULUMI_COMMAND_STDERR")},
			false, "upd:old-out:old-err", ""},
		{"previous output disabled", resource.PropertyMap{
			"create": str("echo created"), "update": str("echo upd:$PULUMI_COMMAND_STDOUT"),
			"addPreviousOutputInEnv": resource.NewBoolProperty(false)},
			false, "upd:", ""},
		{"falls back to create", resource.PropertyMap{"create": str("echo again:$PULUMI_COMMAND_STDOUT")},
			false, "again:old-out", ""},
		{"no command keeps outputs", resource.PropertyMap{"dir": str("/")}, false, "old-out", ""},
		{"preview with changes", resource.PropertyMap{"create": str("echo new")}, true, "?", ""},
		{"failure", resource.PropertyMap{"create": str("echo created"), "update": str("exit 4")}, false, "", "exit status 4"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := p.Update(ctx, &pulumirpc.UpdateRequest{Urn: testURN, Id: "step1",
				Olds: mustMarshal(t, state), News: mustMarshal(t, c.news), Preview: c.preview})
			if c.wantErr != "" {
				if err == nil || resp != nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want error %q, got %v %v", c.wantErr, resp, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			outs := mustUnmarshal(t, resp.Properties)
			if c.wantOut == "?" {
				if !outs["stdout"].IsComputed() {
					t.Fatalf("stdout not unknown: %v", outs)
				}
			} else if outs["stdout"].StringValue() != c.wantOut {
				t.Fatalf("stdout %v, want %q", outs["stdout"], c.wantOut)
			}
			for k, v := range c.news {
				if !outs[k].DeepEquals(v) {
					t.Errorf("output %s = %v, want input %v", k, outs[k], v)
				}
			}
		})
	}
}

func TestDeleteReadInvokeInfo(t *testing.T) {
	dir := t.TempDir()
	seen := filepath.Join(dir, "seen")
	p := newCommandProvider(nil, newRunner())
	state := resource.PropertyMap{
		"create": str("true"),
		"delete": str("echo \"$PULUMI_COMMAND_STDOUT\" > " + seen),
		"stdout": str("the-out"),
		"stderr": str(""),
	}
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testURN, Id: "x", Properties: mustMarshal(t, state)}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(seen); strings.TrimSpace(string(b)) != "the-out" {
		t.Fatalf("delete saw %q", b)
	}
	state["delete"] = str("exit 2")
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testURN, Id: "x", Properties: mustMarshal(t, state)}); err == nil ||
		!strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("failing delete: %v", err)
	}
	delete(state, "delete")
	if _, err := p.Delete(ctx, &pulumirpc.DeleteRequest{Urn: testURN, Id: "x", Properties: mustMarshal(t, state)}); err != nil {
		t.Fatal(err)
	}

	props := mustMarshal(t, state)
	read, err := p.Read(ctx, &pulumirpc.ReadRequest{Urn: testURN, Id: "x", Properties: props, Inputs: props})
	if err != nil || read.Id != "x" || !mustUnmarshal(t, read.Properties).DeepEquals(state) {
		t.Fatalf("read: %v %v", read, err)
	}

	if _, err := p.Invoke(ctx, &pulumirpc.InvokeRequest{Tok: "command:local:run"}); err == nil ||
		!strings.Contains(err.Error(), "implements only command:local:Command") {
		t.Fatalf("invoke: %v", err)
	}
	info, _ := p.GetPluginInfo(ctx, &emptypb.Empty{})
	if info.Version != "1.2.1" {
		t.Fatalf("version %q", info.Version)
	}
	conf, _ := p.Configure(ctx, &pulumirpc.ConfigureRequest{})
	if !conf.AcceptSecrets || !conf.SupportsPreview {
		t.Fatalf("configure: %v", conf)
	}
	sch, err := p.GetSchema(ctx, &pulumirpc.GetSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Name      string
		Version   string
		Resources map[string]struct {
			InputProperties map[string]json.RawMessage
			Properties      map[string]json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(sch.Schema), &spec); err != nil {
		t.Fatal(err)
	}
	r, ok := spec.Resources["command:local:Command"]
	if spec.Name != "command" || spec.Version != "1.2.1" || !ok || len(r.InputProperties) != len(inputKinds) ||
		r.Properties["stdout"] == nil {
		t.Fatalf("schema: %+v", spec)
	}
}

func TestDiffRPCUsesOldInputs(t *testing.T) {
	p := newCommandProvider(nil, newRunner())
	state := resource.PropertyMap{"create": str("a"), "stdout": str("x"), "stderr": str("")}
	news := resource.PropertyMap{"create": str("a")}
	d, err := p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Olds: mustMarshal(t, state), News: mustMarshal(t, news),
		OldInputs: mustMarshal(t, news)})
	if err != nil || d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("%v %v", d, err)
	}
	// Without old inputs, the inputs are taken from the state (outputs are ignored).
	d, err = p.Diff(ctx, &pulumirpc.DiffRequest{Urn: testURN, Olds: mustMarshal(t, state), News: mustMarshal(t, news)})
	if err != nil || d.Changes != pulumirpc.DiffResponse_DIFF_NONE {
		t.Fatalf("%v %v", d, err)
	}
}
