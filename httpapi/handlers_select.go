package httpapi

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/runtimesd/runtimesd/health"
	"github.com/runtimesd/runtimesd/health/policy"
	"github.com/runtimesd/runtimesd/store"
)

// handleSelect is POST /v1/select: the best runtime for required features, a model provider
// and/or a model, with every candidate ranked. Nothing eligible: 404 naming what nobody meets.
func (s *Server) handleSelect(c echo.Context) error {
	if err := noQuery(c, "POST /v1/select"); err != nil {
		return err
	}
	body, err := readBody(c)
	if err != nil {
		return err
	}
	var req health.SelectRequest
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return errorf(http.StatusBadRequest, "bad_body",
				"the body must be a JSON object with features, model_provider, model_id, allow_unhealthy, candidates, limit: %s", jsonProblem(err))
		}
		if dataAfter(dec, body) {
			return errorf(http.StatusBadRequest, "bad_body", "the body has data after the JSON object")
		}
	}
	if err := req.Check(); err != nil {
		return errorf(http.StatusBadRequest, "bad_field", "%s", strings.TrimPrefix(err.Error(), health.ErrBadSelectRequest.Error()+": "))
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	sel, err := s.answers().Select(snap, req)
	if errors.Is(err, health.ErrUnknownCandidates) {
		return errorf(http.StatusBadRequest, "unknown_candidates", "%v (ids are case-sensitive)", err)
	}
	if err != nil {
		return err
	}
	now := s.opts.Now()
	if sel.Best == nil {
		var e nativeError
		e.Error.Code = "no_runtime_matches"
		e.Error.Message = "no runtime meets the request: " + strings.Join(sel.Unmet, "; ")
		return writeJSON(c, http.StatusNotFound, struct {
			nativeError
			provenance
			Unmet      []string        `json:"unmet"`
			Candidates []health.Ranked `json:"candidates"`
			Total      int             `json:"total"`
		}{e, s.provenanceOf(snap, now), sel.Unmet, sel.Candidates, sel.Total})
	}
	return writeJSON(c, http.StatusOK, struct {
		provenance
		health.Selection
	}{s.provenanceOf(snap, now), sel})
}

var (
	hvTextPlain = []string{"text/plain; charset=utf-8"}
	hvTextCSV   = []string{"text/csv; charset=utf-8"}
)

// handleMatrix is GET /v1/matrix?format=json|table|csv: per runtime its name, type, status,
// health, features, model compatibility and config fields.
func (s *Server) handleMatrix(c echo.Context) error {
	q, err := checkQuery(c, append([]string{"format", "columns"}, readParams...)...)
	if err != nil {
		return err
	}
	format := q.Get("format")
	switch format {
	case "", "json", "table", "csv":
	default:
		return errorf(http.StatusBadRequest, "bad_parameter", "format %q: want json, table or csv", format)
	}
	ans := s.answers() // one read of the policy: the columns it allows and the rows' POLICY cells
	columns, err := parseColumns(q.Get("columns"), ans.Gate != nil)
	if err != nil {
		return err
	}
	if q.Has("columns") && format != "table" {
		return errorf(http.StatusBadRequest, "bad_parameter", "columns applies to format=table only (json and csv carry every column)")
	}
	st, err := s.beginRead(c)
	if err != nil {
		return err
	}
	if format == "table" && q.Has("columns") {
		// A chosen set of columns is rendered per request, not memoised: the sets a client
		// can ask for must not grow the per-catalog memo.
		rep, err := s.matrixTable(ans, st.snap, columns)
		if err != nil {
			return err
		}
		return s.finishRead(c, st, rep)
	}
	enc := s.encodedFor(st.snap.Catalog)
	// Memoised per classifier and configured policy rules, both replaced by a reload: the
	// rows' health and POLICY cells are theirs.
	var rules *policy.Set
	switch g := ans.Gate.(type) {
	case *policy.Set:
		rules = g
	case *policy.Holder: // an Options.Gate whose rules can be replaced
		rules = g.Current()
	}
	memo := enc.matrixFor(matrixRules{ans.Classifier, rules}, format, func() (representation, error) { return s.matrix(ans, st.snap, format) })
	if memo.err != nil {
		return memo.err
	}
	if format == "table" || format == "csv" {
		return s.finishRead(c, st, memo.rep)
	}
	// JSON: the provenance of this request, then the rows encoded once per catalog.
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], '{')
	b = s.appendProvenance(b, st.snap, st.now)
	b = append(b, `,"runtimes":`...)
	*bp = b
	rep := representation{etag: memo.rep.etag, pooled: [2]*[]byte{bp}, provenance: true}
	rep.add(b, nil)
	rep.add(memo.rep.parts[0], nil)
	rep.add(closeBrace, nil)
	return s.finishRead(c, st, rep)
}

var closeBrace = []byte("}")

// matrixTable renders snap's matrix as a plain-text table of the given columns, fitted to
// tableWidth.
func (s *Server) matrixTable(a health.Answers, snap *store.Snapshot, columns []string) (representation, error) {
	b := renderMatrixTable(a.Matrix(snap), columns, a.Gate != nil)
	rep := single(newETag(revETag(weakETag(b), snap)), b)
	rep.contentType = hvTextPlain
	return rep, nil
}

// renderMatrixTable renders rows as a plain-text table of the given columns (parseColumns),
// fitted to tableWidth.
func renderMatrixTable(rows []health.MatrixRow, columns []string, policy bool) []byte {
	all := columnsFor(policy)
	full := [][]string{all}
	for _, r := range rows {
		full = append(full, matrixRowCells(r, ", "))
	}
	idx := make([]int, len(columns))
	for i, c := range columns {
		idx[i] = slices.Index(all, c)
	}
	out := make([][]string, len(full))
	for r, cells := range full {
		out[r] = make([]string, len(idx))
		for i, j := range idx {
			out[r][i] = cells[j]
		}
	}
	return renderTable(out, tableWidth)
}

// renderMatrixCSV renders rows as CSV, every column.
func renderMatrixCSV(rows []health.MatrixRow, policy bool) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(columnsFor(policy))
	for _, r := range rows {
		_ = w.Write(matrixRowCells(r, ";"))
	}
	w.Flush()
	return b.Bytes()
}

// MatrixText renders matrix rows as GET /v1/matrix?format=table or csv does (columns as
// ?columns= takes them, "" for the default set); policy adds the POLICY column. The CLI's
// offline matrix prints it.
func MatrixText(rows []health.MatrixRow, format, columns string, policy bool) ([]byte, error) {
	if format == "csv" {
		return renderMatrixCSV(rows, policy), nil
	}
	cols, err := parseColumns(columns, policy)
	if err != nil {
		return nil, err
	}
	return renderMatrixTable(rows, cols, policy), nil
}

func matrixRowCells(r health.MatrixRow, sep string) []string {
	hist := ""
	if r.MaxHistoryLength != nil {
		hist = strconv.Itoa(*r.MaxHistoryLength)
	}
	cells := []string{r.ID, r.Name, r.Type, r.Status, string(r.Health),
		strings.Join(r.Providers, sep), strings.Join(r.Families, sep), strings.Join(r.Examples, sep),
		strings.Join(r.RequiredConfig, sep), strings.Join(r.RecommendedConfig, sep), hist,
		strconv.FormatBool(r.RequiresSystemPrompt), strings.Join(r.Features, "; ")}
	if r.Policy != "" {
		cells = append(cells, r.Policy)
	}
	return cells
}

// matrixRules keys the matrix memo: the classifier and the policy rules in force (nil when
// there are none, or Options.Gate is another, fixed, policy).
type matrixRules struct {
	cls   any
	rules *policy.Set
}

// matrix renders the rows of snap's matrix: the JSON array, or the whole table or CSV.
func (s *Server) matrix(a health.Answers, snap *store.Snapshot, format string) (representation, error) {
	// The policy in force is Options.Gate or the configured rules (a.Gate): one read for the
	// rows and the POLICY column, or a row would have a cell its header lacks.
	rows, withPolicy := a.Matrix(snap), a.Gate != nil
	switch format {
	case "", "json":
		b, err := marshalNoEscape(rows)
		if err != nil {
			return representation{}, err
		}
		return single(newETag(revETag(weakETag(b), snap)), b), nil
	case "table":
		b := renderMatrixTable(rows, defaultColumnsFor(withPolicy), withPolicy)
		rep := single(newETag(revETag(weakETag(b), snap)), b)
		rep.contentType = hvTextPlain
		return rep, nil
	default: // csv
		b := renderMatrixCSV(rows, withPolicy)
		rep := single(newETag(revETag(weakETag(b), snap)), b)
		rep.contentType = hvTextCSV
		return rep, nil
	}
}
