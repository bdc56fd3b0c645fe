package main

import (
	"context"
	"strings"
	"testing"
)

func TestDisplayable(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"plain text is unchanged", "image-transfer: 1.2 GiB of 4.0 GiB (30%), 20 MiB/s", "image-transfer: 1.2 GiB of 4.0 GiB (30%), 20 MiB/s"},
		{"tab, newline and non-ASCII text stay", "a\tb\nÜmlaut é 🔥", "a\tb\nÜmlaut é 🔥"},
		{"ESC sequences are shown, not acted on", "\x1b]0;owned\x07\x1b[2J\x1b[1A", `\x1b]0;owned\x07\x1b[2J\x1b[1A`},
		{"a bare carriage return cannot overwrite the line", "copied 100%\rfake: all verified", `copied 100%\x0dfake: all verified`},
		{"C1 CSI and DEL", "\u009b31m\x7f", `\u009b31m\x7f`},
		{"bidirectional overrides and isolates", "file\u202egpj.exe \u2066x\u2069", `file\u202egpj.exe \u2066x\u2069`},
		{"bytes that are not UTF-8", "a\xff\xfeb", `a\xff\xfeb`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := displayable(c.in); got != c.want {
				t.Fatalf("displayable(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// What a command prints reaches the live log and the error escaped; the recorded stdout stays as printed.
func TestRunShowsOutputEscaped(t *testing.T) {
	var lines []string
	spec := runSpec{command: `printf 'guest says \033[2J\n' >&2; printf 'out\033\n'`, logStdout: true, logStderr: true}
	res, err := newRunner().run(context.Background(), spec, func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatal(err)
	}
	sortStrings(lines)
	if strings.Join(lines, "|") != `guest says \x1b[2J|out\x1b` {
		t.Fatalf("logged %q", lines)
	}
	if res.stdout != "out\x1b" {
		t.Fatalf("recorded stdout %q, want it as printed", res.stdout)
	}
	spec = runSpec{command: `printf 'refused \033[8m hidden\n' >&2; exit 3`}
	_, err = newRunner().run(context.Background(), spec, nil)
	if err == nil || !strings.Contains(err.Error(), `refused \x1b[8m hidden`) || strings.Contains(err.Error(), "\x1b") {
		t.Fatalf("error %v: the output must be in it, escaped", err)
	}
}
