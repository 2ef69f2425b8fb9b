package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
)

// policyAnswer is GET /v1/policy: the organisation's rules as loaded, and how often each
// decided what since the daemon started.
type policyAnswer struct {
	// Generation counts compilations of the rules (1 at start, +1 per reload); 0: no policy.
	Generation    uint64             `json:"generation"`
	LoadedAt      *time.Time         `json:"loaded_at"`
	EnforceDropIn bool               `json:"enforce_dropin"`
	Rules         []policy.RuleStats `json:"rules"`
}

func (s *Server) policyAnswer() policyAnswer {
	a := policyAnswer{Rules: []policy.RuleStats{}}
	if s.opts.Policy == nil {
		return a
	}
	set := s.opts.Policy.Current()
	if set == nil {
		return a
	}
	at := set.LoadedAt().UTC()
	a.Generation, a.LoadedAt, a.EnforceDropIn, a.Rules = set.Generation(), &at, set.EnforceDropIn(), set.Stats()
	return a
}

// handlePolicy is GET /v1/policy.
func (s *Server) handlePolicy(c echo.Context) error {
	if err := noQuery(c, "GET /v1/policy"); err != nil {
		return err
	}
	return writeJSON(c, http.StatusOK, s.policyAnswer())
}

// dropInPolicy wraps POST /api/v1/runtimes/validate (the hook of policy.enforce_dropin): with
// it set, the blocking verdicts of the policy on the requested runtime are added to the 200
// answer's errors and make it invalid, whether the answer was computed locally or forwarded
// to the control plane. This is a deliberate deviation from the control plane's answer, off
// by default: without it the handler runs untouched and SDK users get the control plane's
// verdict byte for byte. A runtime type the catalog lacks, and every non-200 answer, are left
// as they are.
func (s *Server) dropInPolicy(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if s.opts.Policy == nil || !s.opts.Policy.Current().EnforceDropIn() {
			return next(c)
		}
		body, err := readBody(c)
		if err != nil {
			return err
		}
		c.Request().Body = io.NopCloser(bytes.NewReader(body))
		res := c.Response()
		orig := res.Writer
		buf := &bufferedWriter{ResponseWriter: orig}
		res.Writer = buf
		err = next(c)
		res.Writer = orig
		if err != nil || !buf.wrote {
			return err
		}
		out := buf.body.Bytes()
		if buf.status == http.StatusOK {
			out = s.applyDropInPolicy(body, c.Request().Header.Get(echo.HeaderContentType), out)
		}
		orig.Header().Set(echo.HeaderContentLength, strconv.Itoa(len(out)))
		orig.WriteHeader(buf.status)
		_, werr := orig.Write(out)
		return werr
	}
}

// bufferedWriter holds a handler's answer so that dropInPolicy can amend it.
type bufferedWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
	body   bytes.Buffer
}

func (w *bufferedWriter) WriteHeader(status int) { w.status, w.wrote = status, true }

func (w *bufferedWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(b)
}

// applyDropInPolicy returns answer with the policy's blocking verdicts added, or answer
// unchanged when the request or answer is not one it can amend.
func (s *Server) applyDropInPolicy(reqBody []byte, contentType string, answer []byte) []byte {
	req, err := parseDropInValidate(reqBody, contentType)
	if err != nil {
		return answer
	}
	snap := s.opts.Live.Load()
	if snap == nil {
		return answer
	}
	rt, ok := snap.Catalog.Get(req.RuntimeType)
	if !ok {
		return answer
	}
	var added []string
	for _, v := range s.opts.Policy.Check(rt, policy.ValidationConfig(req, nil)) {
		if !v.Blocking {
			continue
		}
		msg := v.Message
		if v.Outcome == health.VerdictDeny {
			msg = fmt.Sprintf("Policy rule '%s': %s", v.Rule, v.Message)
		}
		added = append(added, msg)
	}
	if len(added) == 0 {
		return answer
	}
	var fields map[string]json.RawMessage
	var errs []string
	if json.Unmarshal(answer, &fields) != nil || json.Unmarshal(fields["errors"], &errs) != nil {
		return answer
	}
	errs = append(errs, added...)
	eb, err := marshalNoEscape(errs)
	if err != nil {
		return answer
	}
	// valid and errors first, as both the local answer and the control plane write them; any
	// other key of the control plane's answer after them, in key order.
	out := append([]byte(`{"valid":false,"errors":`), bytes.TrimSpace(eb)...)
	keys := slices.Sorted(maps.Keys(fields))
	for _, k := range keys {
		if k == "valid" || k == "errors" {
			continue
		}
		kb, _ := marshalNoEscape(k)
		out = append(out, ',')
		out = append(out, bytes.TrimSpace(kb)...)
		out = append(out, ':')
		out = append(out, fields[k]...)
	}
	return append(out, '}')
}
