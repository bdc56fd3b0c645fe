// Command pulumi-language-nodejs is forensic-lab's minimal Node.js language host for the Pulumi engine
// (github.com/pulumi/pulumi/pkg/v3 v3.248.0).
//
// Why it exists: the official host (module github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
// is not served by this machine's Go module proxy, so we build our own from the served module
// github.com/pulumi/pulumi/sdk/v3. It speaks the same gRPC protocol (pulumirpc.LanguageRuntime) and
// launches the same Node.js entry points shipped in the @pulumi/pulumi npm package, but implements
// only what the lab needs:
//
//   - Run: `node [nodeargs] <@pulumi/pulumi/cmd/run> --monitor … <entry point> [args]`, with the
//     stack config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS. Exit code 32 means "the program
//     already told the user", which we report as Bail.
//   - RunPlugin for kind "analyzer" (Node.js policy packs) via @pulumi/pulumi/cmd/run-policy-pack,
//     fronted by the SDK's PolicyProxy so the pack receives its stack configuration.
//   - Handshake, GetPluginInfo, About, Cancel and trivial answers for the dependency/plugin
//     queries: plugins come from $PATH and nothing is ever installed or downloaded.
//
// Not implemented (gRPC Unimplemented): RunPlugin for other plugin kinds, code generation
// (GenerateProgram/Project/Package), Pack, Link, Template. Not supported: debugger attachment,
// the deprecated synchronous-invoke pipes (--sync; the SDK talks to the monitor directly), the
// bun runtime, and trace export from this process (the --tracing endpoint is still passed on).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/google/shlex"
	"github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	hostVersion = "3.248.0"
	// Exit code with which @pulumi/pulumi's run script signals it has already shown an actionable error.
	bailExitCode = 32
	// How long a child gets after SIGINT/SIGTERM before it is killed.
	gracePeriod = 5 * time.Second
)

// parseArgs splits the command line leniently: the engine may pass logging/tracing flags
// (`--logtostderr`, `-v=9`, `--tracing <url>`) and runtime options as `-key=value`; unknown flags
// must not abort start-up. Positional arguments (the engine address) are returned separately.
func parseArgs(args []string) (map[string]string, []string) {
	takesValue := map[string]bool{"tracing": true, "root": true, "runtime": true}
	flags, positional := map[string]string{}, []string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case !strings.HasPrefix(a, "-") || a == "-":
			positional = append(positional, a)
		default:
			name := strings.TrimLeft(a, "-")
			if k, v, ok := strings.Cut(name, "="); ok {
				flags[k] = v
			} else if takesValue[name] && i+1 < len(args) {
				flags[name] = args[i+1]
				i++
			} else {
				flags[name] = "true"
			}
		}
	}
	return flags, positional
}

func main() {
	flags, positional := parseArgs(os.Args[1:])
	if flags["version"] == "true" {
		fmt.Println(hostVersion)
		return
	}
	verbose, _ := strconv.Atoi(flags["v"])
	logging.InitLogging(flags["logtostderr"] == "true", verbose, flags["logflow"] == "true")
	if rt := flags["runtime"]; rt != "" && rt != "nodejs" {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: unsupported runtime %q (only nodejs)\n", rt)
		os.Exit(1)
	}

	h := newHost(flags)
	if len(positional) > 0 {
		h.setEngine(positional[0])
	}

	// On SIGINT/SIGTERM (or if the engine stops answering health checks) pass the signal on to our
	// node children, give them a moment to finish, then stop serving and exit 0.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	stop := make(chan bool)
	go func() {
		select {
		case sig := <-sigs:
			h.shutdown(sig)
		case <-h.engineGone.Done():
			h.shutdown(syscall.SIGTERM)
		}
		close(stop)
		time.AfterFunc(2*gracePeriod, func() { os.Exit(0) }) // don't hang on a stuck stream
	}()

	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{ // listens on 127.0.0.1 only
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: could not serve: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // first stdout line: how the engine finds us
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs: %v\n", err)
		os.Exit(1)
	}
}

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	flags      map[string]string  // command-line flags; runtime options found here act as defaults
	cancelCtx  context.Context    // cancelled by the Cancel RPC: interrupts running programs
	cancel     context.CancelFunc //
	engineGone context.Context    // cancelled when the engine fails a health check
	markGone   context.CancelFunc //

	mu         sync.Mutex
	engineAddr string
	stopping   bool
	children   map[*exec.Cmd]struct{}
	running    sync.WaitGroup
}

func newHost(flags map[string]string) *host {
	h := &host{flags: flags, children: map[*exec.Cmd]struct{}{}}
	h.cancelCtx, h.cancel = context.WithCancel(context.Background())
	h.engineGone, h.markGone = context.WithCancel(context.Background())
	return h
}

func (h *host) setEngine(addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if addr == "" || addr == h.engineAddr {
		return
	}
	h.engineAddr = addr
	if err := rpcutil.Healthcheck(h.engineGone, addr, 5*time.Minute, h.markGone); err != nil {
		logging.V(3).Infof("health check of engine %s not started: %v", addr, err)
	}
}

func (h *host) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddr
}

// nodeOptions are the `runtime.options` of Pulumi.yaml / PulumiPolicy.yaml that affect how node runs.
type nodeOptions struct {
	typescript bool
	tsconfig   string
	nodeargs   []string
}

// options merges command-line defaults with the project's runtime options. As in the official host,
// typescript defaults to true (ts-node is then registered by @pulumi/pulumi's run script). Other
// options (e.g. packagemanager) are irrelevant here: we never install anything.
func (h *host) options(s *structpb.Struct) (nodeOptions, error) {
	raw := map[string]any{"typescript": h.flags["typescript"] != "false", "tsconfig": h.flags["tsconfig"],
		"nodeargs": h.flags["nodeargs"]}
	maps.Copy(raw, s.AsMap())
	ts, ok1 := raw["typescript"].(bool)
	tsconfig, ok2 := raw["tsconfig"].(string)
	nodeargs, ok3 := raw["nodeargs"].(string)
	if !ok1 || !ok2 || !ok3 {
		return nodeOptions{}, errors.New("nodejs runtime options: typescript must be a boolean, " +
			"tsconfig and nodeargs strings")
	}
	args, err := shlex.Split(nodeargs)
	return nodeOptions{typescript: ts, tsconfig: tsconfig, nodeargs: args}, err
}

func (o nodeOptions) env() []string {
	var env []string
	if o.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if o.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+o.tsconfig)
	}
	return env
}

// resolveModule asks node itself where a module lives, as seen from dir (so symlinked or hoisted
// node_modules work exactly as they will for the program).
func resolveModule(ctx context.Context, node, module, dir string) (string, error) {
	const script = `try { console.log(require.resolve(process.argv[1], {paths: [process.argv[2]]})) }` +
		` catch (e) { console.error(e.message); process.exit(1) }`
	cmd := exec.CommandContext(ctx, node, "-e", script, module, dir)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("cannot resolve %s from %s (is @pulumi/pulumi installed there?): %v: %s",
			module, dir, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// newCmd prepares a node child that is interrupted (SIGINT, then killed after gracePeriod) when ctx
// ends or the engine calls Cancel. The returned func releases the context plumbing.
func (h *host) newCmd(ctx context.Context, bin string, args, env []string) (*exec.Cmd, func()) {
	cctx, cancel := context.WithCancel(h.cancelCtx)
	unhook := context.AfterFunc(ctx, cancel)
	cmd := exec.CommandContext(cctx, bin, args...)
	cmd.Env = env
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = gracePeriod
	logging.V(5).Infof("launching %s %s", bin, strings.Join(args, " "))
	return cmd, func() { unhook(); cancel() }
}

// start starts cmd and records it so shutdown can forward signals to it; call untrack after Wait.
func (h *host) start(cmd *exec.Cmd) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopping {
		return errors.New("language host is shutting down")
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	h.children[cmd] = struct{}{}
	h.running.Add(1)
	return nil
}

func (h *host) untrack(cmd *exec.Cmd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.children[cmd]; ok {
		delete(h.children, cmd)
		h.running.Done()
	}
}

// shutdown forwards sig to every running child, waits up to gracePeriod, then kills stragglers.
func (h *host) shutdown(sig os.Signal) {
	h.mu.Lock()
	h.stopping = true
	for c := range h.children {
		_ = c.Process.Signal(sig)
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(gracePeriod):
		h.mu.Lock()
		for c := range h.children {
			_ = c.Process.Kill()
		}
		h.mu.Unlock()
	}
}

// exitError turns a child's exit status into the message the engine shows.
func exitError(err error) error {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Errorf("Program was terminated by signal %v", ws.Signal())
	}
	return fmt.Errorf("Program exited with non-zero exit code: %d", ee.ExitCode())
}

// configJSON renders stack config the way @pulumi/pulumi reads PULUMI_CONFIG. Keys are rewritten to
// the legacy "<namespace>:config:<name>" form, which every SDK version understands (as the official
// host does).
func configJSON(cfg map[string]string) (string, error) {
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		key, err := config.ParseKey(k)
		if err != nil {
			return "", err
		}
		out[key.Namespace()+":config:"+key.Name()] = v
	}
	b, err := json.Marshal(out)
	return string(b), err
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.setEngine(req.GetEngineAddress())
	logging.V(5).Infof("handshake: engine=%s root=%s program=%s",
		req.GetEngineAddress(), req.GetRootDirectory(), req.GetProgramDirectory())
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: hostVersion}, nil
}

// GetRequiredPlugins and GetRequiredPackages report nothing: the lab's plugins are already on $PATH
// and the engine must never try to download any.
func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// InstallDependencies deliberately does nothing: node_modules is provisioned outside Pulumi.
func (h *host) InstallDependencies(*pulumirpc.InstallDependenciesRequest,
	pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	return nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(ctx context.Context, _ *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	out, _ := exec.CommandContext(ctx, node, "--version").Output()
	return &pulumirpc.AboutResponse{Executable: node, Version: strings.TrimSpace(string(out))}, nil
}

func (h *host) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	h.cancel()
	return &emptypb.Empty{}, nil
}

// Run executes the Pulumi program with the same command line and environment as the official host.
func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	fail := func(err error) (*pulumirpc.RunResponse, error) {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if req.GetAttachDebugger() {
		return fail(errors.New("debugging is not supported by forensic-lab's nodejs language host"))
	}
	info := req.GetInfo()
	dir, entry := info.GetProgramDirectory(), info.GetEntryPoint()
	if dir == "" { // engines predating ProgramInfo
		dir, entry = req.GetPwd(), req.GetProgram()
	}
	if entry == "" {
		entry = "."
	}
	opts, err := h.options(info.GetOptions())
	if err != nil {
		return fail(err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fail(fmt.Errorf("could not find node on $PATH: %w", err))
	}
	runPath, err := resolveModule(ctx, node, "@pulumi/pulumi/cmd/run", dir)
	if err != nil {
		return fail(err)
	}
	cfg, err := configJSON(req.GetConfig())
	if err != nil {
		return fail(fmt.Errorf("failed to serialize configuration: %w", err))
	}
	secretKeys, err := json.Marshal(append([]string{}, req.GetConfigSecretKeys()...))
	if err != nil {
		return fail(err)
	}

	args := append(append([]string{}, opts.nodeargs...), runPath)
	add := func(flag, v string) {
		if v != "" {
			args = append(args, "--"+flag, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", h.engine())
	add("organization", req.GetOrganization())
	add("project", req.GetProject())
	add("root-directory", info.GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", dir)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.flags["tracing"])
	args = append(append(args, entry), req.GetArgs()...)

	env := append(os.Environ(), "PULUMI_CONFIG="+cfg, "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	cmd, release := h.newCmd(ctx, node, args, append(env, opts.env()...))
	defer release()
	// Wrapping os.Stdout/os.Stderr makes exec copy through a pipe instead of handing node our
	// descriptors; node may flip them to non-blocking mode, which would break our own writes.
	cmd.Stdout, cmd.Stderr = struct{ io.Writer }{os.Stdout}, struct{ io.Writer }{os.Stderr}
	if err := h.start(cmd); err != nil {
		return fail(fmt.Errorf("Problem executing program (could not run node): %w", err))
	}
	err = cmd.Wait()
	h.untrack(cmd)
	_ = os.Stdout.Sync()
	_ = os.Stderr.Sync()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &ee) && ee.ExitCode() == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}, nil
	default:
		return fail(exitError(err))
	}
}

// RunPlugin runs Node.js policy packs (kind "analyzer"). The engine speaks the current Analyzer
// protocol (Handshake, ConfigureStack, …) to the SDK's PolicyProxy, which prints its port first; once
// the stack configuration arrives we start run-policy-pack with that configuration in its environment,
// and the proxy forwards everything to the port the pack prints.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"forensic-lab's nodejs language host only runs policy packs, not %q plugins", req.GetKind())
	}
	if req.GetAttachDebugger() {
		return errors.New("debugging is not supported by forensic-lab's nodejs language host")
	}
	ctx := server.Context()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()

	dir := req.GetInfo().GetProgramDirectory()
	opts, err := h.options(req.GetInfo().GetOptions())
	if err != nil {
		return err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("could not find node on $PATH: %w", err)
	}
	runPath, err := resolveModule(ctx, node, "@pulumi/pulumi/cmd/run-policy-pack", dir)
	if err != nil {
		return err
	}
	env := append(append([]string{}, req.GetEnv()...), opts.env()...)

	proxy, packStdout, err := sdk.NewPolicyProxy(ctx, stdout)
	if err != nil {
		return fmt.Errorf("could not start policy pack proxy: %w", err)
	}
	cfg, err := proxy.AwaitConfiguration(ctx)
	if err != nil {
		return fmt.Errorf("could not get stack configuration: %w", err)
	}
	if cfg != nil {
		set := func(k, v string) {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		set("PULUMI_NODEJS_ORGANIZATION", cfg.GetOrganization())
		set("PULUMI_NODEJS_PROJECT", cfg.GetProject())
		set("PULUMI_NODEJS_STACK", cfg.GetStack())
		set("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(cfg.GetDryRun()))
		if cfg.GetConfig() != nil {
			b, err := json.Marshal(cfg.GetConfig())
			if err != nil {
				return err
			}
			set("PULUMI_CONFIG", string(b))
		}
	}

	// run-policy-pack takes the engine's plugin arguments first and the pack directory last.
	// nodeargs are given to node itself, as in Run (the official host puts them after the script).
	args := append(append(append([]string{}, opts.nodeargs...), runPath), req.GetArgs()...)
	cmd, release := h.newCmd(ctx, node, append(args, dir), env)
	defer release()
	cmd.Dir = dir // policy packs have always run from their own directory
	cmd.Stdout, cmd.Stderr = packStdout, stderr
	if err := h.start(cmd); err != nil {
		return fmt.Errorf("could not start policy pack: %w", err)
	}
	err = proxy.Attach(ctx, cmd) // returns once the pack exits
	h.untrack(cmd)
	if err != nil {
		return fmt.Errorf("policy pack %s: %w", dir, exitError(err))
	}
	return closer.Close()
}
