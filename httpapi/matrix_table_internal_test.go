package httpapi

import (
	"strings"
	"testing"
)

// renderTable's column arithmetic at its edges: columns share the width after the 2-space gaps,
// the widest (the first of equals) gives way one rune at a time, none below 4, and a cell that
// fits its column exactly is printed as it is (its own spaces kept).
func TestRenderTable_Widths(t *testing.T) {
	t.Parallel()
	table := func(width int, rows ...string) string {
		var rs [][]string
		for _, r := range rows {
			rs = append(rs, strings.Split(r, "|"))
		}
		return string(renderTable(rs, width))
	}
	for _, c := range []struct {
		name  string
		width int
		rows  []string
		want  string
	}{
		{"Fits", 80, []string{"ID|NAME", "a|bb"}, "ID  NAME\na   bb\n"},
		// 5 + 2 + 5 = 12: exactly the width, nothing shrinks.
		{"ExactlyTheWidth", 12, []string{"abcde|fghij"}, "abcde  fghij\n"},
		// Budget 13 - 2 = 11 for 6 + 6: the first of the two widest gives way.
		{"FirstWidestGivesWay", 13, []string{"abcdef|ghijkl"}, "abcde  ghijkl\nf\n"},
		// Budget 12 - 2 = 10: both give way, one rune each.
		{"BothGiveWay", 12, []string{"abcdef|ghijkl"}, "abcde  ghijk\nf      l\n"},
		// Far too narrow: columns stop at 4 runes.
		{"MinimumWidth", 5, []string{"abcdef|ghijkl"}, "abcd  ghij\nef    kl\n"},
		// A cell exactly its column's width keeps its inner spaces; a wrapped one is re-spaced.
		{"ExactCellKeepsSpaces", 80, []string{"a  b|x"}, "a  b  x\n"},
		{"WrappedCellWords", 12, []string{"aa bb cc dd|x"}, "aa bb cc   x\ndd\n"}, // widths 9 and 1
		// Widths 8 and 1: "cc" fills the rest of the first line exactly (room 2 after "aa bb ").
		{"WordFillsTheLineExactly", 11, []string{"aa bb cc d|x"}, "aa bb cc  x\nd\n"},
	} {
		if got := table(c.width, c.rows...); got != c.want {
			t.Errorf("%s: renderTable(width %d) =\n%q\nwant\n%q", c.name, c.width, got, c.want)
		}
	}
}
