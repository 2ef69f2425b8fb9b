package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/store"
)

// handleConfigGet is GET /v1/runtimes/{id}/config: the configuration built from the runtime's
// requirements (store.Validator.BuildConfig) and the verdict on it. Query overrides: model_id,
// feature (repeatable; replaces the required features), environment (a JSON object).
func (s *Server) handleConfigGet(c echo.Context) error {
	q, err := checkQuery(c, append([]string{"model_id", "feature", "environment"}, readParams...)...)
	if err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	var o store.ConfigOverrides
	if q.Has("model_id") {
		m := q.Get("model_id")
		o.ModelID = &m
	}
	if fs, ok := q["feature"]; ok {
		o.Features = fs // at most 32: checkQuery refuses more repeats of a parameter
	}
	if q.Has("environment") {
		env, err := envObject([]byte(q.Get("environment")), "query parameter environment")
		if err != nil {
			return err
		}
		o.Environment = env
	}
	return s.serveRead(c, func(snap *store.Snapshot, now time.Time) (representation, error) {
		ans, err := s.answers().BuildConfig(snap, now, id, o)
		if err != nil {
			return representation{}, err
		}
		return jsonRep(ans)
	})
}

// handleConfigPost is POST /v1/runtimes/{id}/config: as GET, with the overrides in a JSON body
// {"model_id": "..", "features": [..], "environment": {..}}; an unknown key is a 400 naming it.
func (s *Server) handleConfigPost(c echo.Context) error {
	if err := noQuery(c, "POST /v1/runtimes/{id}/config"); err != nil {
		return err
	}
	id, err := pathParam(c, "id")
	if err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	o, err := decodeConfigOverrides(body)
	if err != nil {
		return err
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	ans, err := s.answers().BuildConfig(snap, s.opts.Now(), id, o)
	if err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, ans)
}

func decodeConfigOverrides(body []byte) (store.ConfigOverrides, error) {
	var o store.ConfigOverrides
	if len(bytes.TrimSpace(body)) == 0 {
		return o, nil // no overrides
	}
	if !utf8.Valid(body) {
		return o, errorf(http.StatusBadRequest, "bad_body", "the body is not valid UTF-8")
	}
	var w struct {
		ModelID     *string         `json:"model_id"`
		Features    []string        `json:"features"`
		Environment json.RawMessage `json:"environment"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return o, errorf(http.StatusBadRequest, "bad_body",
			"the body must be a JSON object with model_id (a string), features (an array of strings) and environment (an object): %s", jsonProblem(err))
	}
	if dataAfter(dec, body) {
		return o, errorf(http.StatusBadRequest, "bad_body", "the body has data after the JSON object")
	}
	if err := checkFeatureCount(len(w.Features)); err != nil {
		return o, err
	}
	o.ModelID, o.Features = w.ModelID, w.Features
	if w.Environment != nil && string(w.Environment) != "null" {
		env, err := envObject(w.Environment, "environment")
		if err != nil {
			return o, err
		}
		o.Environment = env
	}
	return o, nil
}

// envObject checks that b is one JSON object and returns it compacted.
func envObject(b []byte, what string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil || m == nil {
		return nil, errorf(http.StatusBadRequest, "bad_field", "%s must be a JSON object", what)
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, errorf(http.StatusBadRequest, "bad_field", "%s must be a JSON object", what)
	}
	// As validate refuses them: a number beyond float64 would be echoed in the built config,
	// which JSON clients then cannot read (Go's decoder fails on 1e999, Python reads inf).
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) == nil {
		if path := outOfRange(v, what); path != "" {
			return nil, errorf(http.StatusBadRequest, "bad_field", "%s is a number beyond what a double can hold", path)
		}
	}
	return out.Bytes(), nil
}
