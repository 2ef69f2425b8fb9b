package health_test

import (
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// BenchmarkAnswers_Validate is the native validate report without HTTP: build it and encode it
// with its append encoder (httpapi's BenchmarkPostRoutes//v1/validate adds decoding and echo).
func BenchmarkAnswers_Validate(b *testing.B) {
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(1000))
	if err != nil {
		b.Fatal(err)
	}
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 1, Source: store.SourceUpstream, FetchedAt: now, Catalog: cat}
	a := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Minute}
	req := request(b, `{"runtime_type":"rt-3","model_id":"gpt-4","agent_config":{"timeout":30},"features":["session management"]}`)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		rep := a.Validate(snap, now, req)
		buf, _ = rep.AppendJSON(buf[:0])
	}
}
