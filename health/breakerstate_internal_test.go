package health

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sony/gobreaker/v2"
)

// A restored breaker state carries as many rolling-count buckets as gobreaker makes for the
// window (fewer index out of range once the counts roll): bucketCount agrees with gobreaker
// itself, asked through the distributed breaker's first saved state.
func TestBucketCount_MatchesGobreaker(t *testing.T) {
	for _, window := range []time.Duration{time.Second, 7 * time.Second, time.Minute, 333 * time.Millisecond, 95 * time.Millisecond} {
		seed := &stateSeed{}
		if _, err := gobreaker.NewDistributedCircuitBreaker[[]byte](seed, gobreaker.Settings{
			Interval: window, BucketPeriod: window / 10}); err != nil {
			t.Fatal(err)
		}
		var shared gobreaker.SharedState
		if err := json.Unmarshal(seed.data, &shared); err != nil {
			t.Fatal(err)
		}
		if got, want := bucketCount(window), len(shared.Buckets); got != want || want < 2 {
			t.Errorf("window %v: bucketCount %d, gobreaker makes %d", window, got, want)
		}
	}
}
