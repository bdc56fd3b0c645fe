package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// displayable returns s as it may reach the examiner's terminal. The engine shows a command's output
// live and in its error, and for in-guest hooks that output carries what the analysis guest printed,
// which a compromised guest chooses. A terminal acts on control characters: ESC and the C1 CSI start
// sequences that move the cursor, rewrite or hide lines, retitle the window or, on some terminals, answer
// back into the input; a bare carriage return overwrites the line shown; bidirectional overrides reorder
// what is read ("Trojan Source"). Each of those is shown as an escape (\x1b, \u009b, \u202e), and each
// byte that is not UTF-8 as \xNN; tab, newline and all other text pass unchanged. The outputs Pulumi
// records (stdout, stderr) are not touched: hooks parse them.
func displayable(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && escapedRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case escapedRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if escapedRune(r) {
			return true
		}
	}
	return false
}

// escapedRune: C0 controls but tab and newline, DEL, C1 controls, line and paragraph separators, and
// the bidirectional marks, embeddings, overrides and isolates.
func escapedRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r == 0x061c || r == 0x200e || r == 0x200f || r == 0x2028 || r == 0x2029:
		return true
	case (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
		return true
	}
	return false
}
