//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// ExplainUnwritable says, for an operator, why path cannot be written and what to do: whose
// the nearest existing file or directory on the way is, who runs this process, and the
// choices (run as the owner, another data directory, change the owner). err is the error the
// write failed with.
func ExplainUnwritable(path string, err error) string {
	if errors.Is(err, syscall.EROFS) {
		return fmt.Sprintf("%s is on a read-only file system: give --data (or data_dir) a directory on a writable one", path)
	}
	p := path
	var fi os.FileInfo
	for {
		var serr error
		if fi, serr = os.Stat(p); serr == nil || filepath.Dir(p) == p {
			break
		}
		p = filepath.Dir(p)
	}
	me := describeUser(os.Geteuid())
	var st *syscall.Stat_t
	ok := false
	if fi != nil {
		st, ok = fi.Sys().(*syscall.Stat_t)
	}
	if !ok {
		return fmt.Sprintf("%s is not writable by %s (%v)", path, me, errors.Unwrap(err))
	}
	owner := describeUser(int(st.Uid))
	what := "directory"
	if !fi.IsDir() {
		what = "file"
	}
	if int(st.Uid) == os.Geteuid() && fi.Mode().Perm()&0o200 != 0 || os.Geteuid() == 0 {
		return fmt.Sprintf("%s cannot be written: the %s %s (owner %s, mode %04o) allows it, yet the system refuses (%v): an immutable attribute (see lsattr) or a security policy; clear it, or give --data (or data_dir) another directory",
			path, what, p, owner, fi.Mode().Perm(), errors.Unwrap(err))
	}
	if int(st.Uid) == os.Geteuid() {
		return fmt.Sprintf("%s cannot be written: the %s %s is yours but its mode %04o does not let you write it; chmod u+w %s, or give --data (or data_dir) another directory",
			path, what, p, fi.Mode().Perm(), p)
	}
	return fmt.Sprintf("%s cannot be written by %s: the %s %s belongs to %s (mode %04o). Run runtimesd as %s, give --data (or data_dir) a directory you own, or change the owner: sudo chown -R %s %s",
		path, me, what, p, owner, fi.Mode().Perm(), userName(int(st.Uid)), userName(os.Geteuid()), p)
}

func describeUser(uid int) string {
	return fmt.Sprintf("user %s (uid %d)", userName(uid), uid)
}

func userName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username
	}
	return strconv.Itoa(uid)
}
