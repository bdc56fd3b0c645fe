package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// killGrace is how long a cancelled or timed-out command's process group gets
// between SIGTERM and SIGKILL.
const killGrace = 5 * time.Second

const (
	envPrevStdout = "PULUMI_COMMAND_STDOUT"
	envPrevStderr = "PULUMI_COMMAND_STDERR"
)

var defaultInterpreter = []string{"/bin/sh", "-c"}

// runSpec is one command execution, fully resolved from the resource inputs.
type runSpec struct {
	command     string
	interpreter []string
	dir         string   // "" means the provider's working directory
	env         []string // complete environment (see buildEnv)
	stdin       string
	logStdout   bool
	logStderr   bool
	timeout     time.Duration // 0 means none
}

type runResult struct {
	stdout string
	stderr string
}

// runner executes commands and tracks them so that Cancel can stop them all.
type runner struct {
	base      context.Context // cancelled by cancelAll
	cancelAll context.CancelFunc
	grace     time.Duration
	active    sync.WaitGroup
}

func newRunner() *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{base: ctx, cancelAll: cancel, grace: killGrace}
}

// waitIdle waits until no command is running, or until d has passed.
func (r *runner) waitIdle(d time.Duration) {
	done := make(chan struct{})
	go func() { r.active.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// buildEnv returns the command's environment: base (normally os.Environ()), then
// the user's environment (sorted by name), then the previous stdout/stderr when
// addPrev is set and they are non-empty. Later entries win in os/exec.
func buildEnv(base []string, environment map[string]string, addPrev bool, prevStdout, prevStderr string) []string {
	env := append([]string{}, base...)
	keys := make([]string, 0, len(environment))
	for k := range environment {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+environment[k])
	}
	if addPrev {
		if prevStdout != "" {
			env = append(env, envPrevStdout+"="+prevStdout)
		}
		if prevStderr != "" {
			env = append(env, envPrevStderr+"="+prevStderr)
		}
	}
	return env
}

// run executes spec and returns its trimmed stdout/stderr. log, if not nil,
// receives output lines as they are produced (for the streams selected in spec).
// The error, for a failure, reads like the official provider's:
//
//	exit status 3: running "the command":
//	<interleaved stdout and stderr>
func (r *runner) run(ctx context.Context, spec runSpec, log func(string)) (runResult, error) {
	r.active.Add(1)
	defer r.active.Done()
	if err := r.base.Err(); err != nil {
		return runResult{}, fmt.Errorf("not started: the engine asked the provider to stop (%w): %q", err, spec.command)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.base, cancel)
	defer stop()
	if spec.timeout > 0 {
		var cancelTimeout context.CancelFunc
		ctx, cancelTimeout = context.WithTimeout(ctx, spec.timeout)
		defer cancelTimeout()
	}

	args := append([]string{}, spec.interpreter...)
	if len(args) == 0 {
		args = append(args, defaultInterpreter...)
	}
	args = append(args, spec.command)

	var stdout, stderr bytes.Buffer
	combined := &lockedBuffer{}
	outWriters := []io.Writer{&stdout, combined}
	errWriters := []io.Writer{&stderr, combined}
	var loggers []*lineLogger
	if log != nil && spec.logStdout {
		l := newLineLogger(log)
		loggers = append(loggers, l)
		outWriters = append(outWriters, l)
	}
	if log != nil && spec.logStderr {
		l := newLineLogger(log)
		loggers = append(loggers, l)
		errWriters = append(errWriters, l)
	}

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdout = io.MultiWriter(outWriters...)
	cmd.Stderr = io.MultiWriter(errWriters...)
	cmd.Env = spec.env
	cmd.Dir = spec.dir
	if cmd.Dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return runResult{}, err
		}
		cmd.Dir = wd
	}
	if spec.stdin != "" {
		cmd.Stdin = strings.NewReader(spec.stdin)
	}
	// Own process group, so that signals reach the command's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	var killTimer *time.Timer
	var killMu sync.Mutex
	cancelled := false
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		killMu.Lock()
		defer killMu.Unlock()
		cancelled = true
		// Safe until Wait reaps the leader: its pid (the group id) cannot be reused.
		killTimer = time.AfterFunc(r.grace, func() { _ = syscall.Kill(-pgid, syscall.SIGKILL) })
		return nil
	}
	// Bound the wait for output pipes held open by stragglers once cancelled.
	cmd.WaitDelay = r.grace + 2*time.Second

	err := cmd.Start()
	if err == nil {
		err = cmd.Wait()
		killMu.Lock()
		if killTimer != nil {
			killTimer.Stop()
		}
		if cancelled {
			// The leader is gone; make sure no straggler of its group survives.
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		killMu.Unlock()
	}
	for _, l := range loggers {
		l.flush()
	}

	if err != nil {
		switch {
		case r.base.Err() != nil:
			err = fmt.Errorf("cancelled (the engine asked the provider to stop): %w", err)
		case spec.timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded):
			err = fmt.Errorf("timed out after %s: %w", spec.timeout, err)
		}
		return runResult{}, fmt.Errorf("%w: running %q:\n%s", err, spec.command, displayable(combined.String()))
	}
	return runResult{
		stdout: strings.TrimSuffix(stdout.String(), "\n"),
		stderr: strings.TrimSuffix(stderr.String(), "\n"),
	}, nil
}

// lockedBuffer is a bytes.Buffer shared by the stdout and stderr copiers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lineLogger calls emit for every complete line written to it; flush emits the
// unterminated rest. Very long lines are emitted in pieces; it never blocks or
// fails the command.
type lineLogger struct {
	emit    func(string)
	pending []byte
}

const maxLogLine = 64 * 1024

func newLineLogger(emit func(string)) *lineLogger { return &lineLogger{emit: emit} }

func (l *lineLogger) Write(p []byte) (int, error) {
	l.pending = append(l.pending, p...)
	for {
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			break
		}
		l.emit(displayable(strings.TrimSuffix(string(l.pending[:i]), "\r")))
		l.pending = l.pending[i+1:]
	}
	for len(l.pending) > maxLogLine {
		l.emit(displayable(string(l.pending[:maxLogLine])))
		l.pending = l.pending[maxLogLine:]
	}
	if len(l.pending) == 0 {
		l.pending = nil
	}
	return len(p), nil
}

func (l *lineLogger) flush() {
	if len(l.pending) > 0 {
		l.emit(displayable(string(l.pending)))
		l.pending = nil
	}
}
