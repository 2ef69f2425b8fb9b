// Package fakecp is a fake of the control plane's Runtimes Service: a real HTTP server on
// loopback that serves the contract from an in-memory catalog, counts requests, and has
// switches for the faults a real control plane shows. Every package's tests use it, and so
// does `runtimesd serve --dev`.
package fakecp

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runtimesd/runtimesd/store"
)

// Fault is a failure mode of the whole list endpoint.
type Fault string

// The faults.
const (
	FaultNone      Fault = ""
	Fault500       Fault = "500"
	Fault503       Fault = "503"       // with Retry-After (SetRetryAfter; default 7)
	Fault401       Fault = "401"       // credentials rejected
	Fault429       Fault = "429"       // with Retry-After (SetRetryAfter; default 7)
	FaultHang      Fault = "hang"      // no answer until the client gives up or the fake closes
	FaultGarbage   Fault = "garbage"   // 200 with a body that is not JSON
	FaultTruncated Fault = "truncated" // 200 with a body cut in the middle
	FaultEmpty     Fault = "empty"     // 200 []
	FaultObject    Fault = "object"    // 200 with a JSON object where the array belongs
	FaultReset     Fault = "reset"     // connection closed without an answer
	FaultRedirect  Fault = "redirect"  // 307 to another host
	Fault403       Fault = "403"       // forbidden
	FaultHuge      Fault = "huge"      // 200 with a valid body of HugeBytes (beyond a client's cap)
	FaultFlap      Fault = "flap"      // every other list request answers 500
)

// HugeBytes is the size of FaultHuge's body.
const HugeBytes = 8 << 20

// Options configure a Server.
type Options struct {
	// APIKey, when set, is required as "Authorization: Bearer <key>"; others get 401.
	APIKey string
	// Catalog is a JSON array of runtime objects with requirements inline, as the control
	// plane's list endpoint returns it. Default: the public catalog (store.SeedJSON).
	Catalog []byte
	// NoInline serves the list without inline requirements, so clients must fetch them.
	NoInline bool
	// ETags makes the list and requirements endpoints send ETags and answer If-None-Match.
	ETags bool
	// Addr to listen on (default 127.0.0.1:0).
	Addr string
	// ChangeEveryList makes every list request see a new version of every runtime: each
	// object's "version" field (and its requirements' model_requirement description) is set
	// to the number of list requests so far. A consistent snapshot has one version throughout.
	ChangeEveryList bool
}

// Server is a running fake control plane.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	url  string
	stop chan struct{}
	once sync.Once

	mu           sync.Mutex
	opts         Options
	order        []string
	objects      map[string]json.RawMessage // list objects, by id
	requirements map[string]json.RawMessage // by id
	fault        Fault
	reqFaults    map[string]int // requirements id -> status to answer
	delay        time.Duration
	redirectTo   string
	counts       map[string]int
	authSeen     map[string]int // Authorization header values seen, by host header
	retryAfter   string         // Retry-After of 429 and 503 (default "7")
	version      int            // list requests seen under ChangeEveryList
	flap         int            // requests seen under FaultFlap
}

// SetRetryAfter sets the Retry-After header value of 429 and 503 answers.
func (s *Server) SetRetryAfter(v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = v
}

// Start listens and serves. Close stops it.
func Start(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Catalog == nil {
		opts.Catalog = store.SeedJSON()
	}
	s := &Server{opts: opts, stop: make(chan struct{}), counts: map[string]int{}, reqFaults: map[string]int{}, authSeen: map[string]int{}, retryAfter: "7"}
	if err := s.SetCatalog(opts.Catalog); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fake control plane: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL is the base URL, e.g. http://127.0.0.1:41234.
func (s *Server) URL() string { return s.url }

// Close stops the server and releases hanging requests. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.stop) })
	return s.srv.Close()
}

// SetCatalog replaces the catalog with a JSON array of runtime objects (requirements inline).
func (s *Server) SetCatalog(arrayJSON []byte) error {
	var items []json.RawMessage
	if err := json.Unmarshal(arrayJSON, &items); err != nil {
		return fmt.Errorf("fake control plane: catalog: %w", err)
	}
	order := make([]string, 0, len(items))
	objects := map[string]json.RawMessage{}
	reqs := map[string]json.RawMessage{}
	for _, raw := range items {
		var w struct {
			ID           string          `json:"id"`
			Requirements json.RawMessage `json:"requirements"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("fake control plane: catalog item: %w", err)
		}
		order = append(order, w.ID)
		objects[w.ID] = raw
		if len(w.Requirements) > 0 && string(w.Requirements) != "null" {
			reqs[w.ID] = w.Requirements
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order, s.objects, s.requirements = order, objects, reqs
	return nil
}

// Catalog returns the current catalog as the list endpoint would serve it with inline
// requirements.
func (s *Server) Catalog() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listBody(false)
}

// PutRuntime adds or replaces one runtime object (requirements inline, or none), keeping
// its position when it exists.
func (s *Server) PutRuntime(raw []byte) error {
	var w struct {
		ID           string          `json:"id"`
		Requirements json.RawMessage `json:"requirements"`
	}
	if err := json.Unmarshal(raw, &w); err != nil || w.ID == "" {
		return fmt.Errorf("fake control plane: runtime object without id: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[w.ID]; !ok {
		s.order = append(s.order, w.ID)
	}
	s.objects[w.ID] = raw
	delete(s.requirements, w.ID)
	if len(w.Requirements) > 0 && string(w.Requirements) != "null" {
		s.requirements[w.ID] = w.Requirements
	}
	return nil
}

// RemoveRuntime deletes a runtime.
func (s *Server) RemoveRuntime(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, id)
	delete(s.requirements, id)
	for i, x := range s.order {
		if x == id {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
}

// SetFault switches the list endpoint's failure mode (FaultNone to heal).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetRedirectTarget sets where FaultRedirect sends clients.
func (s *Server) SetRedirectTarget(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirectTo = url
}

// SetDelay delays every answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// FailRequirements makes the requirements endpoint answer status for id (0 heals).
func (s *Server) FailRequirements(id string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.reqFaults, id)
		return
	}
	s.reqFaults[id] = status
}

// Count returns how many requests reached path (e.g. "/api/v1/runtimes").
func (s *Server) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[path]
}

// AuthorizationHeaders returns how many requests carried each Authorization value.
func (s *Server) AuthorizationHeaders() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.authSeen))
	for k, v := range s.authSeen {
		out[k] = v
	}
	return out
}

// listBody encodes the list; s.mu must be held.
func (s *Server) listBody(strip bool) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, id := range s.order {
		if i > 0 {
			b.WriteByte(',')
		}
		raw := s.objects[id]
		if strip {
			var m map[string]json.RawMessage
			if json.Unmarshal(raw, &m) == nil {
				delete(m, "requirements")
				raw, _ = json.Marshal(m)
			}
		}
		b.Write(raw)
	}
	b.WriteByte(']')
	return b.Bytes()
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.URL.Path]++
	s.authSeen[r.Header.Get("Authorization")]++
	delay, fault, apiKey := s.delay, s.fault, s.opts.APIKey
	s.mu.Unlock()

	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		}
	}
	if apiKey != "" && r.Header.Get("Authorization") != "Bearer "+apiKey && strings.HasPrefix(r.URL.Path, "/api/v1/") {
		writeJSON(w, http.StatusUnauthorized, []byte(`{"detail":"Invalid or missing API key"}`))
		return
	}
	switch {
	case r.URL.Path == "/api/health":
		writeJSON(w, http.StatusOK, []byte(`{"status":"healthy"}`))
	case r.URL.Path == "/api/v1/runtimes" && r.Method == http.MethodGet:
		s.serveList(w, r, fault)
	case r.URL.Path == "/api/v1/runtimes/validate" && r.Method == http.MethodPost:
		s.serveValidate(w, r, fault)
	case strings.HasPrefix(r.URL.Path, "/api/v1/runtimes/") && strings.HasSuffix(r.URL.Path, "/requirements") && r.Method == http.MethodGet:
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/runtimes/"), "/requirements")
		s.serveRequirements(w, r, id, fault)
	default:
		writeJSON(w, http.StatusNotFound, []byte(`{"detail":"Not Found"}`))
	}
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, fault Fault) {
	if s.serveFault(w, r, fault) {
		return
	}
	s.mu.Lock()
	if s.opts.ChangeEveryList {
		s.bumpVersion()
	}
	body := s.listBody(s.opts.NoInline)
	etags := s.opts.ETags
	s.mu.Unlock()
	serveBody(w, r, body, etags)
}

// bumpVersion stamps a new version into every runtime; s.mu must be held.
func (s *Server) bumpVersion() {
	s.version++
	for _, id := range s.order {
		var m map[string]any
		if json.Unmarshal(s.objects[id], &m) != nil {
			continue
		}
		m["version"] = s.version
		if req, ok := m["requirements"].(map[string]any); ok {
			if mr, ok := req["model_requirement"].(map[string]any); ok {
				mr["description"] = fmt.Sprintf("version %d", s.version)
			}
			raw, _ := json.Marshal(req)
			s.requirements[id] = raw
		}
		s.objects[id], _ = json.Marshal(m)
	}
}

func (s *Server) serveRequirements(w http.ResponseWriter, r *http.Request, id string, fault Fault) {
	// A hang or reset takes the whole server down, requirements included; the other list
	// faults concern the list endpoint only.
	if fault == FaultHang || fault == FaultReset || fault == Fault500 {
		s.serveFault(w, r, fault)
		return
	}
	s.mu.Lock()
	status := s.reqFaults[id]
	req, ok := s.requirements[id]
	etags := s.opts.ETags
	s.mu.Unlock()
	switch {
	case status != 0:
		writeJSON(w, status, []byte(`{"detail":"injected failure"}`))
	case !ok:
		d, _ := json.Marshal(map[string]string{"detail": fmt.Sprintf("Runtime '%s' not found or has no requirements", id)})
		writeJSON(w, http.StatusNotFound, d)
	default:
		serveBody(w, r, req, etags)
	}
}

// serveValidate applies the contract's rules to the fake's catalog (with the built-in model
// patterns). Bodies that are not a JSON object with a string runtime_type get a 422.
func (s *Server) serveValidate(w http.ResponseWriter, r *http.Request, fault Fault) {
	if fault == FaultHang || fault == FaultReset || fault == Fault500 || fault == Fault503 {
		s.serveFault(w, r, fault)
		return
	}
	var body struct {
		RuntimeType  *string        `json:"runtime_type"`
		ModelID      *string        `json:"model_id"`
		AgentConfig  map[string]any `json:"agent_config"`
		SystemPrompt *string        `json:"system_prompt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.RuntimeType == nil {
		writeJSON(w, http.StatusUnprocessableEntity, []byte(`{"detail":[{"type":"missing","loc":["body","runtime_type"],"msg":"Field required","input":null}]}`))
		return
	}
	cat, err := store.ParseSnapshotFile(s.Catalog())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, []byte(`{"detail":"bad catalog"}`))
		return
	}
	v, _ := store.NewValidator(nil)
	res := v.Validate(cat, store.ValidationRequest{RuntimeType: *body.RuntimeType, ModelID: body.ModelID,
		AgentConfig: body.AgentConfig, SystemPrompt: body.SystemPrompt})
	out, _ := json.Marshal(map[string]any{"valid": res.Valid, "errors": res.Errors})
	writeJSON(w, http.StatusOK, out)
}

// serveFault answers according to fault and reports whether it did.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, fault Fault) bool {
	switch fault {
	case FaultNone:
		return false
	case Fault500:
		writeJSON(w, http.StatusInternalServerError, []byte(`{"detail":"Internal Server Error"}`))
	case Fault503, Fault429:
		s.mu.Lock()
		w.Header().Set("Retry-After", s.retryAfter)
		s.mu.Unlock()
		if fault == Fault503 {
			writeJSON(w, http.StatusServiceUnavailable, []byte(`{"detail":"Service Unavailable"}`))
		} else {
			writeJSON(w, http.StatusTooManyRequests, []byte(`{"detail":"Too Many Requests"}`))
		}
	case Fault403:
		writeJSON(w, http.StatusForbidden, []byte(`{"detail":"Forbidden"}`))
	case FaultHuge:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte(`{"id":"x","pad":"................................................................"},`), 1024)
		_, _ = w.Write([]byte("["))
		for n := 0; n < HugeBytes; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return true
			}
		}
		_, _ = w.Write([]byte(`{"id":"last"}]`))
	case FaultFlap:
		s.mu.Lock()
		s.flap++
		fail := s.flap%2 == 1
		s.mu.Unlock()
		if !fail {
			return false
		}
		writeJSON(w, http.StatusInternalServerError, []byte(`{"detail":"flapping"}`))
	case Fault401:
		writeJSON(w, http.StatusUnauthorized, []byte(`{"detail":"Invalid or missing API key"}`))
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
		}
	case FaultGarbage:
		writeJSON(w, http.StatusOK, []byte("<html>502 Bad Gateway</html>"))
	case FaultTruncated:
		s.mu.Lock()
		body := s.listBody(false)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body[:len(body)/2])
		// Returning with fewer bytes than Content-Length makes net/http close the connection.
	case FaultEmpty:
		writeJSON(w, http.StatusOK, []byte("[]"))
	case FaultObject:
		writeJSON(w, http.StatusOK, []byte(`{"runtimes":[]}`))
	case FaultReset:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				_ = conn.Close()
			}
		}
	case FaultRedirect:
		s.mu.Lock()
		target := s.redirectTo
		s.mu.Unlock()
		http.Redirect(w, r, target+r.URL.Path, http.StatusTemporaryRedirect)
	default:
		writeJSON(w, http.StatusInternalServerError, []byte(`{"detail":"unknown fault"}`))
	}
	return true
}

func serveBody(w http.ResponseWriter, r *http.Request, body []byte, etags bool) {
	if etags {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:8]) + `"`
		w.Header().Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	writeJSON(w, http.StatusOK, body)
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body))) // as uvicorn does
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// SyntheticCatalog returns a JSON array of n runtimes shaped like the public ones (requirements
// inline, about 750 bytes each), for scale tests and benchmarks. Runtime i has id "rt-<i>".
func SyntheticCatalog(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	statuses := []string{"available", "beta", "coming_soon", "active"}
	providers := []string{"openai", "anthropic", "azure", "google", "mistral", "cohere"}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"rt-%d","name":"Runtime %d","description":"Synthetic runtime %d for scale tests.","icon":"agno","features":["Feature %d","Multi-step task execution","Session management"],"status":%q,"requirements":{"model_requirement":{"description":"Synthetic model requirement","supported_providers":[%q,%q],"supported_families":["gpt","claude"],"examples":["gpt-4","claude-sonnet-4"]},"required_config_fields":["timeout"],"recommended_config_fields":["max_tokens"],"max_history_length":%d,"requires_system_prompt":%t,"requires_tools":false}}`,
			i, i, i, i%10, statuses[i%len(statuses)], providers[i%len(providers)], providers[(i+1)%len(providers)], 50+i%200, i%3 == 0)
	}
	b.WriteByte(']')
	return b.Bytes()
}
