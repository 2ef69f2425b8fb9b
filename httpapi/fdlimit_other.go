//go:build !unix

package httpapi

// fdLimit is the process's soft limit on open files (0: unknown).
func fdLimit() int64 { return 0 }
