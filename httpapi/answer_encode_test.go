package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/httpapi"
	"github.com/runtimesd/runtimesd/store"
	"github.com/runtimesd/runtimesd/sync/fakecp"
)

// validateReportBytes decodes body as POST /v1/validate does, answers it from a synthetic
// catalog, and returns the append encoder's bytes and encoding/json's (HTML escaping off).
func validateReportBytes(t testing.TB, cat *store.Catalog, body []byte) (got, want []byte, ok bool) {
	req, err := httpapi.DecodeValidateRequest(body)
	if err != nil {
		return nil, nil, false
	}
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	snap := &store.Snapshot{Revision: 3, Source: store.SourceUpstream, FetchedAt: time.Unix(1_700_000_000, 0), Catalog: cat}
	rep := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Minute}.Validate(snap, time.Unix(1_700_000_100, 0), req)
	got, ok = rep.AppendJSON(nil)
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		t.Fatal(err)
	}
	return got, []byte(strings.TrimSuffix(sb.String(), "\n")), ok
}

var validateSeeds = []string{
	`{"runtime_type":"rt-3","model_id":"gpt-4","agent_config":{"timeout":30},"features":["session management"]}`,
	`{"runtime_type":"rt-1","agent_config":{"b":[1,2.5e3,{"z":null,"a":"x\u0008\f\u2028<&>"}],"a":true},"x_extra": { "k" : [ 1 , "s p a c e" ] }}`,
	`{"runtime_type":"nope","model":"gpt-4","features":["a","b"],"system_prompt":"be \"brief\"\n"}`,
	`{"runtime_type":"rt-0","model_id":null,"agent_config":null,"environment":{"region":"eu"},"é":"ü\t"}`,
	`{"runtime_type":"rt-2","model_id":"claude-sonnet-4","agent_config":{"n":123456789012345678901234567890}}`,
}

// TestValidateReport_AppendJSONIsEncodingJSON: the hand encoder of POST /v1/validate writes the
// same bytes as encoding/json for every kind of value a request carries (the wire format must
// not change with the speed-up).
func TestValidateReport_AppendJSONIsEncodingJSON(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(8))
	if err != nil {
		t.Fatal(err)
	}
	for _, body := range validateSeeds {
		got, want, ok := validateReportBytes(t, cat, []byte(body))
		if !ok {
			t.Fatalf("%s: the append encoder gave up", body)
		}
		if string(got) != string(want) {
			t.Fatalf("%s\nappend: %s\njson:   %s", body, got, want)
		}
	}
}

func FuzzValidateReportEncoding(f *testing.F) {
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(4))
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range validateSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, want, ok := validateReportBytes(t, cat, body)
		if ok && string(got) != string(want) {
			t.Fatalf("%q\nappend: %s\njson:   %s", body, got, want)
		}
	})
}

// FuzzDecodeValidateRequest: the native validate decoder (one pass over the body) reads every
// body encoding/json reads into the request's documented fields, and the same values: the
// typed members as json.Decoder with UseNumber decodes them (the last of a repeated key), every
// other key verbatim in Raw, and no body encoding/json refuses.
func FuzzDecodeValidateRequest(f *testing.F) {
	for _, s := range validateSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a\"b":1,"a\"b":[2,{"}":"]"}] , "\u00e9" : "x\\"}`))
	f.Add([]byte(` {"runtime_type":"a", "runtime\u005ftype" : "b","features":null,"features":[null,"x"]} `))
	f.Add([]byte(`{"runtime_type":"a","model_id":"m\u0000","system_prompt":"","agent_config":{"k":{"k":[1e2]}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantOK := referenceValidateRequest(body)
		got, err := httpapi.DecodeValidateRequest(body)
		if err != nil {
			return // refusals (and the bounds encoding/json has not: out-of-range numbers, 64 features) are tested elsewhere
		}
		if !wantOK {
			t.Fatalf("%q: decoded %+v, encoding/json refuses it", body, got)
		}
		if !reflect.DeepEqual(got.ValidationRequest, want.ValidationRequest) || !reflect.DeepEqual(got.Features, want.Features) {
			t.Fatalf("%q:\n got %#v %#v\nwant %#v %#v", body, got.ValidationRequest, got.Features, want.ValidationRequest, want.Features)
		}
		if len(got.Raw) != len(want.Raw) || (got.Raw == nil) != (want.Raw == nil) {
			t.Fatalf("%q: other members %q, want %q", body, got.Raw, want.Raw)
		}
		for k, v := range want.Raw {
			if string(got.Raw[k]) != string(v) {
				t.Fatalf("%q: %q = %s, want %s", body, k, got.Raw[k], v)
			}
		}
	})
}

// referenceValidateRequest decodes a native validate body with encoding/json alone, as
// health.ValidateRequest documents its fields; ok is false where encoding/json refuses it.
func referenceValidateRequest(body []byte) (req health.ValidateRequest, ok bool) {
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil || members == nil {
		return req, false
	}
	decode := func(key string, dst any) bool {
		v, ok := members[key]
		if !ok || string(v) == "null" {
			return true
		}
		d := json.NewDecoder(bytes.NewReader(v))
		d.UseNumber()
		return d.Decode(dst) == nil
	}
	var rt *string
	var cfg any
	if !decode("runtime_type", &rt) || rt == nil || !decode("model_id", &req.ModelID) ||
		!decode("agent_config", &cfg) || !decode("system_prompt", &req.SystemPrompt) || !decode("features", &req.Features) {
		return req, false
	}
	req.RuntimeType = *rt
	if cfg != nil {
		if req.AgentConfig, ok = cfg.(map[string]any); !ok {
			return req, false
		}
	}
	for k, v := range members {
		switch k {
		case "runtime_type", "model_id", "agent_config", "system_prompt":
			continue
		}
		if req.Raw == nil {
			req.Raw = map[string]json.RawMessage{}
		}
		req.Raw[k] = v
	}
	return req, true
}

// TestAnswers_DaemonBodiesAreTheTypedAnswers: every native read the CLI prints is, byte for
// byte, encoding/json's encoding of the typed answer health builds (what `--offline` prints),
// so the CLI online and offline show the same thing, and the CLI can decode the daemon's JSON
// into those structs.
func TestAnswers_DaemonBodiesAreTheTypedAnswers(t *testing.T) {
	t.Parallel()
	cat, err := store.ParseSnapshotFile(fakecp.SyntheticCatalog(5))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_100, 0)
	snap := &store.Snapshot{Revision: 4, Source: store.SourceUpstream, FetchedAt: time.Unix(1_700_000_000, 0), Catalog: cat}
	v, _ := store.NewValidator(nil)
	cls, _ := health.NewClassifier(nil)
	api, err := httpapi.New(httpapi.Options{Live: store.NewLive(snap), Syncer: noSync{}, Validator: v, Classifier: cls,
		MaxStale: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := health.Answers{Validator: v, Classifier: cls, MaxStale: time.Minute}
	enc := func(x any) string {
		var sb strings.Builder
		e := json.NewEncoder(&sb)
		e.SetEscapeHTML(false)
		if err := e.Encode(x); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(sb.String(), "\n")
	}
	rt, _ := a.Lookup(snap, "rt-1")
	f, err := a.ListFilter(snap, store.Filter{Status: "beta"}, "")
	if err != nil {
		t.Fatal(err)
	}
	sel, _ := a.Select(snap, health.SelectRequest{Features: []string{"session management"}})
	built, _ := a.BuildConfig(snap, now, "rt-1", store.ConfigOverrides{})
	prov := a.Provenance(snap, now)
	cases := []struct{ method, target, body, want string }{
		{"GET", "/v1/runtimes", "", enc(a.List(snap, now, store.Filter{}))},
		{"GET", "/v1/runtimes?status=beta", "", enc(a.List(snap, now, f))},
		{"GET", "/v1/runtimes/rt-1", "", enc(health.RuntimeAnswer{Provenance: prov, Runtime: health.ViewOf(rt)})},
		{"GET", "/v1/runtimes/rt-1/requirements", "", enc(health.RequirementsAnswer{Provenance: prov, ID: rt.ID, Requirements: rt.RequirementsRaw})},
		{"GET", "/v1/matrix", "", enc(struct {
			health.Provenance
			Runtimes []health.MatrixRow `json:"runtimes"`
		}{prov, a.Matrix(snap)})},
		{"POST", "/v1/select", `{"features":["session management"]}`, enc(struct {
			health.Provenance
			health.Selection
		}{prov, sel})},
		{"POST", "/v1/runtimes/rt-1/config", "", enc(built)},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, c.target, strings.NewReader(c.body))
		w := httptest.NewRecorder()
		api.Handler().ServeHTTP(w, r)
		if w.Code != 200 || w.Body.String() != c.want {
			t.Errorf("%s %s: %d\ndaemon: %s\nanswer: %s", c.method, c.target, w.Code, w.Body, c.want)
		}
	}
}
