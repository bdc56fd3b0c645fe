// Command pulumi-resource-command is forensic-lab's own implementation of the
// `command:local:Command` resource of Pulumi's command provider. It is the only
// resource the lab uses: every lab action is a command:local:Command.
//
// Why it exists: the official provider (Go modules github.com/pulumi/pulumi-command
// and github.com/pulumi/pulumi-go-provider) is not served by this machine's Go
// module proxy, so it cannot be built here. This program is a small, independent
// implementation written against github.com/pulumi/pulumi/sdk/v3 (v3.248.0) only;
// it reproduces the behaviour of pulumi-command v1.2.1 for that one resource.
// No code was copied from the official provider.
//
// Supported inputs (names, types and defaults as in the v1.2.1 schema):
//
//	create, update, delete   string  commands run on create / update / delete
//	interpreter              []string, default ["/bin/sh", "-c"]
//	dir                      string, default: the provider's working directory
//	                         (the engine starts providers in the program directory)
//	environment              map[string]string, added to the provider's environment
//	stdin                    string (may be secret; it stays secret in the state)
//	triggers                 []any; any change replaces the resource
//	addPreviousOutputInEnv   bool, default true: PULUMI_COMMAND_STDOUT/STDERR hold
//	                         the previous stdout/stderr for update and delete
//	logging                  stdout | stderr | stdoutAndStderr (default) | none:
//	                         output lines are streamed to the engine as status
//	                         messages while the command runs
//
// Outputs are the inputs plus stdout and stderr (one trailing newline trimmed).
// assetPaths and archivePaths are NOT supported: Check fails if either is set.
// Any other resource token, and every invoke (e.g. local:run), is refused.
//
// Beyond v1.2.1: custom timeouts (req.Timeout) are honoured, and every command
// runs in its own process group, so a timeout, the engine's Cancel RPC or a
// SIGINT/SIGTERM to this provider terminates the whole group (SIGTERM, then
// SIGKILL after a grace period).
//
// Version: GetPluginInfo and the schema report 1.2.1, the version the npm SDK
// @pulumi/command@1.2.1 requests. The engine uses a pulumi-resource-command found
// on PATH (an "ambient" plugin) whatever version it reports, so the number only
// keeps what the engine records and displays consistent with the SDK's request.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

const (
	providerName    = "command"
	providerVersion = "1.2.1"
)

func main() {
	r := newRunner()

	// A SIGINT/SIGTERM to the provider (Ctrl-C reaches the whole foreground group;
	// our commands live in their own groups) terminates the running commands too.
	// serve separately uses SIGINT to stop serving gracefully.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		for sig := range sigs {
			r.cancelAll()
			if sig == syscall.SIGTERM {
				// Keep SIGTERM fatal, but give the commands their grace period first.
				r.waitIdle(killGrace + time.Second)
				os.Exit(143)
			}
		}
	}()

	if err := serve(os.Args[1:], r); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
