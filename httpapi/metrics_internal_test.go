package httpapi

import "testing"

// TestMetricCode: the code label is the status code from 100 to 599 and 0 outside, so no
// answer can add series at will.
func TestMetricCode(t *testing.T) {
	t.Parallel()
	for code, want := range map[int]int{0: 0, 99: 0, 100: 100, 200: 200, 599: 599, 600: 0, 1000: 0} {
		if got := metricCode(code); got != want {
			t.Errorf("metricCode(%d) = %d, want %d", code, got, want)
		}
	}
}
