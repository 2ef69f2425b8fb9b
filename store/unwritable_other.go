//go:build !unix

package store

import (
	"errors"
	"fmt"
)

// ExplainUnwritable says why path cannot be written and what to do.
func ExplainUnwritable(path string, err error) string {
	return fmt.Sprintf("%s cannot be written (%v): give --data (or data_dir) a directory you can write", path, errors.Unwrap(err))
}
