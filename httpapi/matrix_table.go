package httpapi

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tableWidth is the width the matrix table fits in: a terminal of 120 columns.
const tableWidth = 120

// tableColumns are the matrix table's columns, in the order they are printed; defaultColumns
// are those shown without ?columns= (the rest of the matrix is one ?columns=all away).
var (
	tableColumns   = []string{"ID", "NAME", "TYPE", "STATUS", "HEALTH", "PROVIDERS", "FAMILIES", "EXAMPLES", "REQUIRED", "RECOMMENDED", "MAX_HISTORY", "SYSTEM_PROMPT", "FEATURES"}
	defaultColumns = []string{"ID", "NAME", "STATUS", "HEALTH", "PROVIDERS", "FAMILIES", "REQUIRED"}
)

// columnsFor is every column of the table: POLICY last when a policy is in force.
func columnsFor(policy bool) []string {
	if policy {
		return append(slices.Clip(tableColumns), "POLICY")
	}
	return tableColumns
}

// defaultColumnsFor are the columns shown without ?columns=: POLICY last when a policy is in
// force.
func defaultColumnsFor(policy bool) []string {
	if policy {
		return append(slices.Clip(defaultColumns), "POLICY")
	}
	return defaultColumns
}

// parseColumns reads ?columns=a,b,c (names case-insensitive, "all" for every column) into the
// columns to print, in the table's order; "" is the default set. policy adds the POLICY column.
func parseColumns(v string, policy bool) ([]string, error) {
	tableColumns := columnsFor(policy)
	if v == "" {
		return defaultColumnsFor(policy), nil
	}
	if strings.EqualFold(v, "all") {
		return tableColumns, nil
	}
	want := map[string]bool{}
	for _, given := range strings.Split(v, ",") {
		name := strings.ToUpper(strings.TrimSpace(given))
		if !slices.Contains(tableColumns, name) {
			return nil, errorf(http.StatusBadRequest, "bad_parameter", "columns: unknown column %q; columns are %s (or all)",
				given, strings.ToLower(strings.Join(tableColumns, ",")))
		}
		want[name] = true
	}
	var out []string
	for _, c := range tableColumns {
		if want[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// renderTable writes rows (the first is the header) as a plain-text table no line of which is
// wider than width runes: columns share the width, the widest give way first, and a cell too
// wide for its column wraps onto continuation lines (at spaces, or inside a word too long).
// Control characters from upstream data (terminal escapes among them) print as spaces.
func renderTable(rows [][]string, width int) []byte {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows[0])
	for _, r := range rows {
		for i := range r {
			r[i] = strings.Map(func(c rune) rune {
				if unicode.IsControl(c) || c == utf8.RuneError {
					return ' '
				}
				return c
			}, r[i])
			if strings.TrimSpace(r[i]) == "" {
				r[i] = "-"
			}
		}
	}
	const gap = 2
	widths := make([]int, n)
	for _, r := range rows {
		for i, cell := range r {
			widths[i] = max(widths[i], utf8.RuneCountInString(cell))
		}
	}
	budget := max(width-gap*(n-1), n)
	const minWidth = 4
	for sum(widths) > budget {
		widest := 0
		for i, w := range widths {
			if w > widths[widest] {
				widest = i
			}
		}
		if widths[widest] <= minWidth {
			break
		}
		widths[widest]--
	}
	var b bytes.Buffer
	for _, r := range rows {
		cells := make([][]string, n)
		lines := 1
		for i, cell := range r {
			cells[i] = wrapCell(cell, widths[i])
			lines = max(lines, len(cells[i]))
		}
		for l := range lines {
			var line strings.Builder
			for i := range n {
				part := ""
				if l < len(cells[i]) {
					part = cells[i][l]
				}
				line.WriteString(part)
				if i < n-1 {
					line.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(part)+gap))
				}
			}
			b.WriteString(strings.TrimRight(line.String(), " "))
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

func sum(ws []int) int {
	s := 0
	for _, w := range ws {
		s += w
	}
	return s
}

// wrapCell breaks s into lines of at most w runes: at spaces where it can, inside a word
// longer than w where it must.
func wrapCell(s string, w int) []string {
	if utf8.RuneCountInString(s) <= w {
		return []string{s}
	}
	var lines []string
	var cur []rune
	for _, word := range strings.Fields(s) {
		rw := []rune(word)
		for len(rw) > 0 {
			room := w - len(cur)
			if len(cur) > 0 {
				room-- // the space before the word
			}
			switch {
			case len(rw) <= room:
				if len(cur) > 0 {
					cur = append(cur, ' ')
				}
				cur = append(cur, rw...)
				rw = nil
			case len(cur) > 0:
				lines = append(lines, string(cur))
				cur = cur[:0]
			default: // a word longer than the column
				lines = append(lines, string(rw[:w]))
				rw = rw[w:]
			}
		}
	}
	if len(cur) > 0 {
		lines = append(lines, string(cur))
	}
	return lines
}
