package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBuildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	cases := []struct {
		name       string
		env        map[string]string
		addPrev    bool
		prevOut    string
		prevErr    string
		wantSuffix []string
	}{
		{"nothing", nil, true, "", "", nil},
		{"environment sorted", map[string]string{"B": "2", "A": "1"}, true, "", "", []string{"A=1", "B=2"}},
		{"previous outputs", nil, true, "out", "err", []string{"PULUMI_COMMAND_STDOUT=out", "PULUMI_COMMAND_STDERR=err"}},
		{"empty previous outputs are not set", nil, true, "", "err", []string{"PULUMI_COMMAND_STDERR=err"}},
		{"addPreviousOutputInEnv false", nil, false, "out", "err", nil},
		{"previous output after environment", map[string]string{"PULUMI_COMMAND_STDOUT": "mine"}, true, "out", "",
			[]string{"PULUMI_COMMAND_STDOUT=mine", "PULUMI_COMMAND_STDOUT=out"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := buildEnv(base, c.env, c.addPrev, c.prevOut, c.prevErr)
			want := append(append([]string{}, base...), c.wantSuffix...)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	env := buildEnv([]string{"PATH=" + os.Getenv("PATH")}, map[string]string{"FOO": "bar"}, true, "prev-out", "")
	cases := []struct {
		name       string
		spec       runSpec
		wantOut    string
		wantErr    string
		wantErrMsg []string // substrings of the error
	}{
		{name: "stdout trimmed once", spec: runSpec{command: "printf 'a\\n\\n'"}, wantOut: "a\n"},
		{name: "stderr captured", spec: runSpec{command: "echo oops >&2"}, wantErr: "oops"},
		{name: "environment", spec: runSpec{command: "echo $FOO", env: env}, wantOut: "bar"},
		{name: "previous stdout", spec: runSpec{command: "echo $PULUMI_COMMAND_STDOUT", env: env}, wantOut: "prev-out"},
		{name: "stdin", spec: runSpec{command: "cat", stdin: "s3cret"}, wantOut: "s3cret"},
		{name: "no stdin is empty", spec: runSpec{command: "cat"}, wantOut: ""},
		{name: "dir", spec: runSpec{command: "pwd", dir: dir}, wantOut: dir},
		{name: "bash interpreter", spec: runSpec{command: "echo ${BASH_VERSION:+bash}",
			interpreter: []string{"/bin/bash", "-c"}}, wantOut: "bash"},
		{name: "exit code", spec: runSpec{command: "echo to-out; echo to-err >&2; exit 3"},
			wantErrMsg: []string{"exit status 3", `running "echo to-out; echo to-err >&2; exit 3"`, "to-out", "to-err"}},
		{name: "missing dir", spec: runSpec{command: "true", dir: filepath.Join(dir, "nope")},
			wantErrMsg: []string{"no such file or directory"}},
		{name: "missing interpreter", spec: runSpec{command: "true", interpreter: []string{"/nonexistent/sh", "-c"}},
			wantErrMsg: []string{"/nonexistent/sh"}},
	}
	r := newRunner()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := r.run(context.Background(), c.spec, nil)
			if len(c.wantErrMsg) > 0 {
				if err == nil {
					t.Fatalf("expected an error, got %+v", res)
				}
				for _, s := range c.wantErrMsg {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.stdout != c.wantOut || res.stderr != c.wantErr {
				t.Fatalf("got stdout %q stderr %q, want %q %q", res.stdout, res.stderr, c.wantOut, c.wantErr)
			}
		})
	}
}

func TestRunLogging(t *testing.T) {
	cases := []struct {
		name           string
		logOut, logErr bool
		want           []string
	}{
		{"both", true, true, []string{"e1", "o1", "o2"}},
		{"stdout", true, false, []string{"o1", "o2"}},
		{"stderr", false, true, []string{"e1"}},
		{"none", false, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var lines []string
			log := func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
			spec := runSpec{command: "echo o1; echo e1 >&2; printf o2", logStdout: c.logOut, logStderr: c.logErr}
			if _, err := newRunner().run(context.Background(), spec, log); err != nil {
				t.Fatal(err)
			}
			got := append([]string{}, lines...)
			sortStrings(got)
			if strings.Join(got, ",") != strings.Join(c.want, ",") {
				t.Fatalf("logged %q, want %q", got, c.want)
			}
		})
	}
}

func sortStrings(s []string) {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
}

// pidAlive reports whether the pid in file exists (and is not a zombie).
func pidAlive(t *testing.T, file string) bool {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) > 2 && fields[2] != "Z"
}

func waitForFile(t *testing.T, file string) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if b, _ := os.ReadFile(file); len(strings.TrimSpace(string(b))) > 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", file)
}

func TestRunTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	r := newRunner()
	r.grace = 500 * time.Millisecond
	// The grandchild ignores SIGTERM, so it takes the SIGKILL after the grace period.
	spec := runSpec{
		command: "sh -c 'trap \"\" TERM; echo $$ > " + pidFile + "; sleep 60' & wait",
		timeout: time.Second,
	}
	start := time.Now()
	_, err := r.run(context.Background(), spec, nil)
	if err == nil || !strings.Contains(err.Error(), "timed out after 1s") {
		t.Fatalf("want a timeout error, got %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s", d)
	}
	time.Sleep(200 * time.Millisecond)
	if pidAlive(t, pidFile) {
		t.Fatal("grandchild survived the timeout")
	}
}

func TestCancelAllTerminatesRunningCommands(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	r := newRunner()
	r.grace = 500 * time.Millisecond
	errc := make(chan error, 1)
	go func() {
		_, err := r.run(context.Background(), runSpec{command: "sleep 60 & echo $! > " + pidFile + "; wait"}, nil)
		errc <- err
	}()
	waitForFile(t, pidFile)
	r.cancelAll()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "cancelled") || !strings.Contains(err.Error(), "signal: terminated") {
			t.Fatalf("want a cancellation error, got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("command not stopped by cancelAll")
	}
	time.Sleep(200 * time.Millisecond)
	if pidAlive(t, pidFile) {
		t.Fatal("background child survived cancelAll")
	}
	// After Cancel nothing new starts.
	if _, err := r.run(context.Background(), runSpec{command: "true"}, nil); err == nil {
		t.Fatal("command ran after cancelAll")
	}
}

func TestLineLoggerLongLines(t *testing.T) {
	var got []string
	l := newLineLogger(func(s string) { got = append(got, s) })
	_, _ = l.Write([]byte(strings.Repeat("x", maxLogLine+10)))
	_, _ = l.Write([]byte("\r\nend"))
	l.flush()
	if len(got) != 3 || len(got[0]) != maxLogLine || got[1] != strings.Repeat("x", 10) || got[2] != "end" {
		t.Fatalf("unexpected lines: %d %q", len(got), got[len(got)-1])
	}
}
