package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// engineLogger sends log messages to the engine (the pulumirpc.Engine service
// whose address the engine passes as the plugin's argument).
type engineLogger struct {
	client pulumirpc.EngineClient
}

// logStatus sends an ephemeral info message: it shows in the progress display
// while the resource is being processed, like the official provider's output.
func (l *engineLogger) logStatus(ctx context.Context, urn resource.URN, msg string) {
	if l == nil {
		return
	}
	_, _ = l.client.Log(ctx, &pulumirpc.LogRequest{
		Severity:  pulumirpc.LogSeverity_INFO,
		Message:   strings.ToValidUTF8(msg, "\uFFFD"),
		Urn:       string(urn),
		Ephemeral: true,
	})
}

// engineAddress picks the engine address out of the plugin arguments
// ([--logtostderr] [-v=N] [--tracing ENDPOINT] ENGINE-ADDRESS).
func engineAddress(args []string) (string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--tracing" || a == "-tracing":
			i++ // skip its value
		case strings.HasPrefix(a, "-"):
			// logging flags: ignored
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) != 1 {
		return "", fmt.Errorf("usage: pulumi-resource-command ENGINE-ADDRESS (got %q)", args)
	}
	return rest[0], nil
}

// serve connects to the engine, serves the provider on a loopback port, prints
// the port (the plugin protocol) and returns when the engine lets go of us.
func serve(args []string, r *runner) error {
	addr, err := engineAddress(args)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()), rpcutil.GrpcChannelOptions())
	if err != nil {
		return fmt.Errorf("could not connect to the engine at %s: %w", addr, err)
	}
	defer conn.Close()

	// Stop serving on SIGINT (how the engine ends a plugin) or when the engine
	// stops answering health checks.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if err := rpcutil.Healthcheck(ctx, addr, 5*time.Minute, cancel); err != nil {
		return fmt.Errorf("could not start the engine health check: %w", err)
	}
	stop := make(chan bool)
	go func() { <-ctx.Done(); close(stop) }()

	prov := newCommandProvider(&engineLogger{client: pulumirpc.NewEngineClient(conn)}, r)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterResourceProviderServer(srv, prov)
			return nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		return errors.New("provider server: " + err.Error())
	}
	return nil
}
