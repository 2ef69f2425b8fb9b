package health

import (
	"github.com/runtimesd/runtimesd/store"
)

// MatrixRow is one row of the compatibility matrix: the runtime's requirements summary, its
// health class and, with a policy in force, whether the policy allows it.
type MatrixRow struct {
	store.MatrixRow
	Health Class `json:"health"`
	// Policy is "allowed", or "denied by <rule>" (absent without a policy).
	Policy string `json:"policy,omitempty"`
}

// Policy values of a matrix row.
const PolicyAllowed = "allowed"

// Matrix is snap's compatibility matrix, one row per runtime in catalog order.
func (a Answers) Matrix(snap *store.Snapshot) []MatrixRow {
	rts := snap.Catalog.Runtimes()
	rows := make([]MatrixRow, 0, len(rts))
	for i, r := range store.Matrix(snap.Catalog) {
		row := MatrixRow{MatrixRow: r, Health: a.Classifier.Of(rts[i])}
		if a.Gate != nil {
			row.Policy = PolicyAllowed
			if v := blocking(a.Gate.Check(rts[i], nil)); v != nil {
				row.Policy = "denied by " + v.Rule
			}
		}
		rows = append(rows, row)
	}
	return rows
}
