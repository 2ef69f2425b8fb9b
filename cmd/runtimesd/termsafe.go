package main

import (
	"fmt"
	"io"
)

// termSafe writes what the CLI prints with the ASCII control characters other than tab and
// newline shown as \xNN. What it prints comes from a daemon (error messages, and through the
// catalog the control plane's names and sentences): an ESC or CR in them must not move the
// cursor, recolour or rewrite the operator's terminal. JSON output is unchanged (it escapes
// them itself).
type termSafe struct{ w io.Writer }

func (t termSafe) Write(p []byte) (int, error) {
	clean := true
	for _, c := range p {
		if isControl(c) {
			clean = false
			break
		}
	}
	if clean {
		return t.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for _, c := range p {
		if isControl(c) {
			out = fmt.Appendf(out, `\x%02x`, c)
		} else {
			out = append(out, c)
		}
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func isControl(c byte) bool { return (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f }
